"""The curators' loop: proposals (clustering, choices, reviews), stable ids, rejections, the
accuracy guard of `kb accept`, comment-keeping YAML writes, and the loop end to end."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.analytics import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    NONE_OF_THESE,
    SUGGESTED,
    SUGGESTION_CHOSEN,
    UNANSWERED,
    Analytics,
    Event,
)
from bot.cli import main
from bot.curation import (
    Curator,
    Kind,
    LabelledSet,
    Proposal,
    Refused,
    cluster,
    proposal_id,
    propose,
    reject,
)
from bot.curation.proposals import NEAR_SCORE, is_sensitive, normal_form, read_rejections
from bot.engine import Engine, Match, Reply

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _event(kind: str, question: str = "", entry: str | None = None, chosen: str | None = None,
           user: str | None = "u1", minutes: int = 0) -> Event:
    return Event(T0 + dt.timedelta(minutes=minutes), kind, entry, chosen, None, "private", user, question)


# ----- clustering -----

def test_clustering_joins_wordings_and_keeps_key_words_apart(engine: Engine) -> None:
    questions = ["社保卡丢了怎么办", "我的社保卡丢了怎么办啊", "医保卡丢了咋办", "社保卡怎么激活",
                 "社保卡怎么激活呢", "社保卡怎么挂失", "公积金怎么取", "几岁能退休"]
    corpus = [normal_form(engine, v) for e in engine.kb.entries.values() for v in e.variants]
    groups = cluster([normal_form(engine, q) for q in questions], corpus)
    assert groups == [[0, 1, 2], [3, 4], [5], [6], [7]]
    assert cluster([], corpus) == [] and cluster(["社保卡"]) == [[0]]


# ----- proposals (with an engine whose rankings the test sets) -----

@dataclass
class Ranked:
    """An engine stand-in: the real base and lexicon, rankings given per question."""

    real: Engine
    rankings: dict[str, tuple[tuple[str, float], ...]]
    suggestions: dict[str, tuple[str, ...]]

    @property
    def kb(self):  # noqa: ANN201 - the real KnowledgeBase
        return self.real.kb

    @property
    def lexicon(self):  # noqa: ANN201 - the real Lexicon
        return self.real.lexicon

    def answer_and_match(self, question: str) -> tuple[Reply, Match]:
        ranking = self.rankings.get(question, ())
        suggestions = self.suggestions.get(question, ())
        kind = "suggest" if suggestions else "none"
        reply = Reply("", kind=kind, suggestions=suggestions)
        return reply, Match(kind, None, ranking[0][1] if ranking else 0.0, suggestions, None, ranking)


def test_unanswered_clusters_become_alternates_new_entries_or_nothing(engine: Engine) -> None:
    near, far = NEAR_SCORE + 0.1, NEAR_SCORE - 0.1
    rankings = {
        "社保卡能不能借别人": (("sharing-notes", near), ("card-library", 0.3)),
        "社保卡能不能借给别人啊": (("sharing-notes", near), ("card-library", 0.3)),
        "社保卡照片咋换": (("card-medical", far),),
        "社保卡照片怎么换": (("card-uses", far),),
        "公积金怎么取": (("oos:housing-fund", 0.9), ("card-other", 0.4)),
        "公积金咋提取出来": (("oos:housing-fund", 0.9),),
        "今天吃啥": (),
        "你好啊": (("chat:hello", 0.9), ("card-uses", 0.1)),  # small talk: never proposed
        "你好呀": (("chat:hello", 0.9),),
        "明天股票能涨吗": (("unrelated", 0.8),),
        "明天股票会涨吗": (("unrelated", 0.8),),
    }
    stub = Ranked(engine, rankings, {})
    events = [_event(UNANSWERED, q, user=f"u{i}", minutes=i) for i, q in enumerate(rankings)]
    events.append(_event(UNANSWERED, "社保卡能不能借别人", user="u9"))
    events.append(_event(UNANSWERED, "我身份证11010519491231002X能借别人吗", user="u9"))
    events.append(_event(UNANSWERED, "[身份证号已隐藏]能借吗", user="u9"))
    proposals = propose(events, stub)  # type: ignore[arg-type]
    assert [(p.kind, p.entry, p.question, p.count, p.examples) for p in proposals] == [
        (Kind.ALTERNATE, "sharing-notes", "社保卡能不能借别人", 3, ("社保卡能不能借给别人啊",)),
        (Kind.NEW_ENTRY, None, "社保卡照片咋换", 2, ("社保卡照片怎么换",)),
    ]  # out of scope, small talk, unrelated, the lone 今天吃啥 and the sensitive questions: left out


def test_none_of_these_rules_out_the_suggested_entries(engine: Engine) -> None:
    rankings = {"社保卡能不能借别人": (("sharing-notes", 0.8), ("card-library", 0.6))}
    stub = Ranked(engine, rankings, {"社保卡能不能借别人": ("sharing-notes",)})
    proposals = propose([_event(NONE_OF_THESE, "社保卡能不能借别人")], stub)  # type: ignore[arg-type]
    assert [(p.kind, p.entry) for p in proposals] == [(Kind.ALTERNATE, "card-library")]


def test_did_you_mean_choices(engine: Engine) -> None:
    existing = engine.kb.entries["card-uses"].alternates[0]
    events = [
        _event(SUGGESTION_CHOSEN, "社保卡", chosen="card-uses", user="a"),
        _event(SUGGESTION_CHOSEN, "社保卡?", chosen="card-uses", user="b"),  # same normal form
        _event(SUGGESTION_CHOSEN, "社保卡", chosen="card-medical", user="c"),
        _event(SUGGESTION_CHOSEN, existing, chosen="card-uses"),  # already an alternate
        _event(SUGGESTION_CHOSEN, "手机13800138000能办吗", chosen="card-uses"),  # sensitive
        _event(SUGGESTION_CHOSEN, "社保卡", chosen="no-such-entry"),
        _event(UNANSWERED, "社保卡"),  # proposed from the choice, not again as unanswered
    ]
    proposals = propose(events, engine)
    assert [(p.kind, p.entry, p.question, p.count, p.source) for p in proposals] == [
        (Kind.ALTERNATE, "card-uses", "社保卡", 2, "did-you-mean"),
        (Kind.ALTERNATE, "card-medical", "社保卡", 1, "did-you-mean"),
    ]


def test_a_choice_the_engine_now_answers_is_not_proposed(engine: Engine) -> None:
    question = "社保卡能坐地铁吗"
    reply = engine.answer(question)
    assert reply.kind == "answer"
    chosen = _event(SUGGESTION_CHOSEN, question, chosen=reply.entry_id)
    assert propose([chosen], engine) == []


def test_entries_with_many_downvotes_are_reviewed(engine: Engine) -> None:
    events = [_event(FEEDBACK_DOWN, "社保卡能坐轮渡吗", entry="card-ferry", user=u) for u in "abc"]
    events += [_event(FEEDBACK_DOWN, "社保卡能坐轮渡吗", entry="card-ferry", user="a")] * 4  # again
    events += [_event(FEEDBACK_DOWN, "轮渡优惠多少", entry="card-ferry", user="d")]
    events += [_event(FEEDBACK_UP, entry="card-ferry", user=u) for u in "xy"]
    events += [_event(FEEDBACK_DOWN, "x", entry="card-uses", user="a"),  # one user: not "many"
               _event(FEEDBACK_DOWN, "y", entry="card-medical", user="a"),
               _event(FEEDBACK_DOWN, "y", entry="card-medical", user="b"),
               *[_event(FEEDBACK_UP, entry="card-medical", user=u) for u in "xyz"]]  # more 👍
    proposals = propose(events, engine)
    assert [(p.kind, p.entry, p.question, p.count, p.examples) for p in proposals] == [
        (Kind.REVIEW, "card-ferry", "社保卡能坐轮渡吗", 4, ("轮渡优惠多少",))]


def test_ids_are_stable() -> None:
    first = proposal_id(Kind.ALTERNATE, "card-uses", "社保卡")
    assert first == "86c0a769aa"  # a changed formula would orphan every id a curator has
    assert proposal_id(Kind.ALTERNATE, "card-uses", "社保卡？ ") == first  # same normal form
    assert proposal_id(Kind.ALTERNATE, "card-medical", "社保卡") != first
    assert proposal_id(Kind.NEW_ENTRY, None, "社保卡") != first
    review = proposal_id(Kind.REVIEW, "card-uses", "whatever was asked")
    assert review == proposal_id(Kind.REVIEW, "card-uses", "") != first
    assert Proposal(Kind.ALTERNATE, "card-uses", "社保卡", 3).id == first


def test_sensitive_questions_are_recognised() -> None:
    assert is_sensitive("我的身份证号是11010519491231002X")
    assert is_sensitive("[手机号已隐藏]能办吗")
    assert not is_sensitive("社保卡丢了怎么办")


# ----- rejections -----

async def test_rejections_stick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Analytics.open(tmp_path)
    for user in (1, 2):
        await store.record(SUGGESTION_CHOSEN, chosen_entry_id="card-uses", question="社保卡", user_id=user)
        await store.record(SUGGESTION_CHOSEN, chosen_entry_id="card-medical", question="社保卡", user_id=user)
    await store.close()

    def suggested() -> dict[str, str | None]:
        assert main(["kb", "suggest", "--json", "--data-dir", str(tmp_path)]) == 0
        return {p["id"]: p["entry"] for p in json.loads(capsys.readouterr().out)}

    before = suggested()
    assert sorted(before.values()) == ["card-medical", "card-uses"]
    unwanted = next(pid for pid, entry in before.items() if entry == "card-medical")
    assert main(["kb", "reject", unwanted, "--data-dir", str(tmp_path)]) == 0
    assert f"rejected {unwanted}" in capsys.readouterr().out
    store = Analytics.open(tmp_path)  # asked again after the rejection: still not proposed
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id="card-medical", question="社保卡", user_id=3)
    await store.close()
    assert suggested() == {pid: e for pid, e in before.items() if pid != unwanted}
    assert main(["kb", "reject", "0123456789", "--data-dir", str(tmp_path)]) == 1
    assert "no proposal 0123456789" in capsys.readouterr().err


def test_a_rejected_review_returns_only_with_new_votes(tmp_path: Path, engine: Engine) -> None:
    votes = [_event(FEEDBACK_DOWN, "社保卡能坐轮渡吗", entry="card-ferry", user=u) for u in "ab"]
    (review,) = propose(votes, engine)
    Analytics.open(tmp_path)  # the store exists once the bot has run
    reject(tmp_path, [review], at=T0 + dt.timedelta(hours=1))
    rejected = read_rejections(tmp_path)
    assert propose(votes, engine, rejected) == []
    later = [_event(FEEDBACK_DOWN, "轮渡", entry="card-ferry", user=u, minutes=120) for u in "cd"]
    assert [(p.id, p.count) for p in propose(votes + later, engine, rejected)] == [(review.id, 2)]


# ----- the guard of kb accept -----

def test_the_accuracy_guard_refuses_an_alternate_that_steals_questions(
        kb_copy: Path, engine: Engine) -> None:
    stolen = "个人账户家庭共济怎么绑定?"
    assert engine.answer(stolen).entry_id == "sharing-how"
    labelled = [LabelledSet("synthetic", ((stolen, "sharing-how"), ("共济怎么解绑", "sharing-unbind")))]
    curator = Curator(kb_copy, labelled, engine)
    faq = kb_copy / "faq" / "sharing.yaml"
    before = faq.read_bytes()
    with pytest.raises(Refused, match="accuracy") as refused:
        curator.accept(Proposal(Kind.ALTERNATE, "sharing-unbind", "家庭共济怎么绑定", 5))
    assert stolen in str(refused.value) and "(sharing-how → " in str(refused.value)
    assert faq.read_bytes() == before


def test_an_alternate_closer_to_another_entry_is_refused(kb_copy: Path, engine: Engine) -> None:
    labelled = [LabelledSet("synthetic", (("社保卡有什么用?", "card-uses"),))]
    curator = Curator(kb_copy, labelled, engine)
    faq = kb_copy / "faq" / "card.yaml"
    before = faq.read_bytes()
    with pytest.raises(Refused, match="is closer to 'card-uses'"):
        curator.accept(Proposal(Kind.ALTERNATE, "card-transport", "社保卡能干什么", 2))
    assert faq.read_bytes() == before


def test_accept_refuses_what_it_cannot_check_or_write(kb_copy: Path, engine: Engine) -> None:
    labelled = [LabelledSet("synthetic", (("社保卡有什么用?", "card-uses"),))]
    curator = Curator(kb_copy, labelled, engine)
    existing = engine.kb.entries["card-medical"].alternates[0]
    cases = [
        (Proposal(Kind.NEW_ENTRY, None, "社保卡照片咋换", 3), "by hand"),
        (Proposal(Kind.REVIEW, "card-uses", "", 3), "by hand"),
        (Proposal(Kind.ALTERNATE, "no-such-entry", "社保卡", 1), "not in"),
        (Proposal(Kind.ALTERNATE, "card-uses", existing, 1), "already a question of 'card-medical'"),
        (Proposal(Kind.ALTERNATE, "card-uses", "卡号6222020200001234562怎么用", 1), "card"),
    ]
    for proposal, reason in cases:
        with pytest.raises(Refused, match=reason):
            curator.accept(proposal)
    broken = kb_copy / "faq" / "card.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("id: card-medical", "id: card-uses"),
                      encoding="utf-8")
    with pytest.raises(Refused, match="fails `kb check`"):
        Curator(kb_copy, labelled, engine)


# ----- the loop end to end -----

ONE_WORD = ("挂失", "报销", "密码", "亲情服务", "钱包", "社保卡")
COMMENTED = """\
      # added by the test: a comment line inside the alternates
{last}  # an end-of-line comment
      # a comment line after the last alternate
"""


@pytest.mark.slow
async def test_the_loop_end_to_end(tmp_path: Path, kb_copy: Path, engine: Engine,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The first of these one-word questions that gets "did you mean" from the shipped base.
    question = next(q for q in ONE_WORD if engine.answer(q).kind == "suggest")
    reply = engine.answer(question)
    assert reply.suggestions
    chosen = reply.suggestions[0]  # the user presses suggestion 1
    # Comments around the chosen entry's alternates, so that keeping them is put to the test.
    faq = engine.kb.entries[chosen].file
    copy = kb_copy / faq.relative_to(engine.kb.root)
    last = engine.kb.entries[chosen].alternates[-1]
    text = copy.read_text(encoding="utf-8")
    line = f"      - {last}\n"
    assert text.count(line) == 1
    text = text.replace(line, COMMENTED.format(last=line.rstrip("\n")))
    copy.write_text(text, encoding="utf-8")
    comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#") or "  # " in ln]
    assert len(comments) >= 3

    data = tmp_path / "data"
    store = Analytics.open(data)  # what the bots record for it
    await store.record(SUGGESTED, score=reply.score, user_id=7, question=question)
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id=chosen, user_id=7, question=question)
    await store.close()

    common = ["--data-dir", str(data), "--knowledge", str(kb_copy)]
    assert main(["kb", "suggest", "--json", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    (proposal,) = [p for p in listed if p["question"] == question]
    assert proposal["kind"] == "alternate" and proposal["entry"] == chosen and proposal["count"] == 1
    assert set(proposal) >= {"id", "kind", "entry", "question", "count"}
    assert main(["kb", "suggest", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out) == listed  # the same ids on every run

    assert main(["kb", "accept", proposal["id"], *common]) == 0
    out = capsys.readouterr().out
    assert f"accepted {proposal['id']}" in out and f"+      - {question}\n" in out
    after = copy.read_text(encoding="utf-8")
    lines = after.splitlines()
    assert [ln for ln in lines if ln in comments] == comments  # every comment, in order
    assert lines.index(f"      - {question}") == lines.index(line.rstrip("\n") + "  # an end-of-line comment") + 1
    assert len(lines) == len(text.splitlines()) + 1  # one line added, nothing else changed

    assert main(["ask", "--json", question, "--knowledge", str(kb_copy)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == chosen
    assert main(["kb", "suggest", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out) == []  # now an alternate: nothing left to propose
    assert main(["kb", "accept", proposal["id"], *common]) == 1  # twice: refused, with the reason
    assert "already a question of this entry" in capsys.readouterr().err


@pytest.mark.slow
def test_alternates_accepted_one_after_another_build_on_each_other(kb_copy: Path, engine: Engine) -> None:
    labelled = [LabelledSet("synthetic", (("社保卡有什么用?", "card-uses"), ("今天天气怎么样", None)))]
    curator = Curator(kb_copy, labelled, engine)
    first = curator.accept(Proposal(Kind.ALTERNATE, "card-uses", "社保卡", 2))
    second = curator.accept(Proposal(Kind.ALTERNATE, "card-uses", "社保卡都有啥好处", 1))
    assert first.file == second.file == kb_copy / "faq" / "card.yaml"
    assert "+      - 社保卡\n" in first.diff and "+      - 社保卡都有啥好处\n" in second.diff
    assert "\n       - 社保卡\n" in second.diff  # the first change is context of the second
    entry = curator.kb.entries["card-uses"]
    assert entry.alternates[-2:] == ("社保卡", "社保卡都有啥好处") and entry.file.parent.parent == kb_copy
    with pytest.raises(Refused, match="already a question of this entry"):
        curator.accept(Proposal(Kind.ALTERNATE, "card-uses", "社保卡!", 1))
