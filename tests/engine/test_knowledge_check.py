"""`kb check` names file, line, entry and field for every problem, and the engine refuses a bad base."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.engine import Engine, KnowledgeError
from bot.engine.check import errors, validate


def _messages(root: Path) -> list[str]:
    _, problems = validate(root)
    return [str(p) for p in errors(problems)]


def test_shipped_knowledge_base_passes(kb_copy: Path) -> None:
    kb, problems = validate(kb_copy)
    assert kb is not None
    assert not errors(problems), problems


def test_broken_yaml_names_file_and_line(kb_copy: Path) -> None:
    path = kb_copy / "faq" / "card.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5] + ' : : "unclosed'
    path.write_text("\n".join(lines), encoding="utf-8")
    messages = _messages(kb_copy)
    assert len(messages) == 1
    assert "card.yaml:" in messages[0] and "invalid YAML" in messages[0]
    with pytest.raises(KnowledgeError, match="card.yaml"):
        Engine.from_folder(kb_copy)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_missing_field_duplicate_id_and_dangling_related(kb_copy: Path) -> None:
    faq = kb_copy / "faq" / "card.yaml"
    _edit(faq, "  - id: card-finance", "  - id: card-medical")
    _edit(kb_copy / "faq" / "sharing.yaml", "related: [", "related: [no-such-entry, ")
    text = faq.read_text(encoding="utf-8")
    start = text.index("    source:", text.index("id: card-transport"))
    end = text.index("\n", start) + 1
    faq.write_text(text[:start] + text[end:], encoding="utf-8")
    messages = "\n".join(_messages(kb_copy))
    assert "duplicate id" in messages and "card.yaml:" in messages
    assert "[card-transport] source: missing" in messages
    assert "unknown id 'no-such-entry'" in messages and "sharing.yaml:" in messages


def test_near_identical_questions_are_reported(kb_copy: Path) -> None:
    faq = kb_copy / "faq" / "card.yaml"
    from bot.engine.knowledge import load

    kb = load(kb_copy)
    question = kb.entries["card-uses"].question
    _edit(faq, f"question: {kb.entries['card-library'].question}", f"question: {question}")
    messages = "\n".join(_messages(kb_copy))
    assert "near-identical to 'card-uses'" in messages


def test_review_date_in_the_past_is_a_warning(kb_copy: Path) -> None:
    later = dt.date(2099, 1, 1)
    _, problems = validate(kb_copy, today=later)
    warnings = [p for p in problems if p.severity == "warning" and p.field == "review_by"]
    assert warnings and not errors(problems)


def test_flow_pointing_to_unknown_step_fails(kb_copy: Path) -> None:
    _edit(kb_copy / "flows" / "bind.yaml", "next: summary", "next: nowhere")
    assert any("unknown step 'nowhere'" in m for m in _messages(kb_copy))


def test_region_count_must_match(kb_copy: Path) -> None:
    _edit(kb_copy / "regions.yaml", "count: 31", "count: 30")
    assert any("says 30 but 31" in m for m in _messages(kb_copy))


def test_traits_are_checked(kb_copy: Path) -> None:
    faq = kb_copy / "faq" / "sharing.yaml"
    _edit(faq, "traits: [place-verdict]", "traits: [relative-verdict]")
    _edit(faq, "traits: [how-to]", "traits: [how-to, magic]")
    messages = "\n".join(_messages(kb_copy))
    assert "'relative-verdict' is also on 'sharing-relatives'" in messages
    assert "no entry has the trait 'place-verdict'" in messages
    assert "unknown trait 'magic'" in messages


def test_topic_flow_must_exist(kb_copy: Path) -> None:
    _edit(kb_copy / "faq" / "bind.yaml", "flow: bind", "flow: nowhere")
    assert any("unknown flow 'nowhere'" in m for m in _messages(kb_copy))


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("faq/sharing.yaml", "traits: [relative-verdict]", "traits: 5", "traits: must be a list"),
        ("faq/sharing.yaml", "related: [", "related: sharing-how\n    x: [", "related: must be a list"),
        ("relatives.yaml", "words: [配偶,", "words: 配偶\n    x: [", "words: must be a list of words"),
        ("flows/bind.yaml", "    options:\n      - label: 配偶", "    options: 3\n    x:\n      - label: 配偶",
         "options: must be a list"),
        ("relatives.yaml", "- [父母, 父母, 祖父母或外祖父母]", "- [父母, 表亲, 祖父母]", "chains"),
    ],
)
def test_wrongly_typed_values_are_reported_not_crashed_on(
    kb_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    _edit(kb_copy / file, old, new)
    messages = "\n".join(_messages(kb_copy))
    assert expected in messages


def test_cue_lists_must_be_valid_and_routes_must_lead_somewhere(kb_copy: Path) -> None:
    cues = kb_copy / "cues.yaml"
    _edit(cues, "  - 去世|过世", "  - 去世|(过世")
    _edit(cues, "    entry: card-lend", "    entry: card-borrow")
    _edit(cues, "  - when: [lend, account]", "  - when: [lend, lending]")
    _edit(cues, "  flexible: flexible", "  flexible-work: flexible")
    messages = _messages(kb_copy)
    assert any("cues.yaml:" in m and "deceased" in m and "bad regular expression" in m for m in messages)
    assert any("unknown entry 'card-borrow'" in m for m in messages)
    assert any("['lending']" in m for m in messages)
    assert any("'flexible-work: flexible' must name a topic" in m for m in messages)


def test_a_missing_cue_list_is_named(kb_copy: Path) -> None:
    cues = kb_copy / "cues.yaml"
    text = cues.read_text(encoding="utf-8")
    cues.write_text(text.replace("\nhow:\n", "\nhow_to:\n"), encoding="utf-8")
    assert any("[cues] how: missing" in m for m in _messages(kb_copy))


def test_small_talk_needs_replies_known_offers_and_distinct_examples(kb_copy: Path) -> None:
    talk = kb_copy / "smalltalk.yaml"
    _edit(talk, "    offer: bind", "    offer: dialogue")
    _edit(talk, "examples: [你叫什么,", "examples: [谢谢, 你叫什么,")
    messages = _messages(kb_copy)
    assert any("[bind] offer: unknown offer 'dialogue'" in m for m in messages)
    assert any("'谢谢' is also an example of thanks" in m for m in messages)


def test_training_questions_need_known_keys_and_one_meaning(kb_copy: Path) -> None:
    path = kb_copy / "examples" / "extra.yaml"
    path.write_text(
        "entries:\n  card-borrow: [社保卡借人]\n  card-lost:\n    - 社保卡怎么激活?\n"
        "uncovered:\n  lottery: [彩票怎么买]\nunrelated: [社保卡丢了怎么办]\n", encoding="utf-8")
    messages = _messages(kb_copy)
    assert any("extra.yaml:2" in m and "[card-borrow] entries: unknown entry" in m for m in messages)
    assert any("[lottery] uncovered: unknown topic" in m for m in messages)
    assert any("'社保卡怎么激活?' is also taught as card-activate" in m for m in messages)
    path.write_text("questions: [社保卡]\n", encoding="utf-8")
    assert any("extra.yaml:1" in m and "must be a mapping of entries, uncovered, unrelated" in m
               for m in _messages(kb_copy))


def test_training_questions_teach_the_classifier_only(kb_copy: Path) -> None:
    """A question only examples/ lists is not an exact match, yet the classifier learns it."""
    (kb_copy / "examples" / "extra.yaml").write_text(
        "entries:\n  card-lost: [钱包丢了连带那张绿卡也没了咋整]\n", encoding="utf-8")
    engine = Engine.from_folder(kb_copy)
    assert "钱包丢了连带那张绿卡也没了咋整" in engine.kb.training.entries["card-lost"]
    match = engine.answer_and_match("钱包丢了连带那张绿卡也没了咋整")[1]
    assert match is not None and match.rule != "exact"
    assert match.parts["card-lost"][1] > 0.5  # the classifier's probability
