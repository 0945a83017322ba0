"""Specific behaviour of answers: cases for relatives and places, refusals, noise, replies."""

from __future__ import annotations

import pytest

from bot.engine import Engine


@pytest.mark.parametrize(
    ("question", "word", "verdict"),
    [
        ("我外婆能用吗", "外婆", "✅"),
        ("姥姥能用我的医保个账不", "姥姥", "✅"),
        ("岳父能用我的个人账户吗", "岳父", "❌"),
        ("我侄子可以共济吗?", "侄子", "❌"),
        ("男朋友能不能用我医保", "男朋友", "❌"),
    ],
)
def test_relative_verdicts(engine: Engine, question: str, word: str, verdict: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "sharing-relatives"
    assert reply.kind == "case"
    assert word in reply.body and verdict in reply.body


@pytest.mark.parametrize(
    ("question", "near"),
    [
        ("我姐家的外甥能用我的个账吗", False),
        ("我哥的儿子能用我的医保吗", False),  # nephew
        ("我老婆的妈妈能用我个账吗", False),  # mother-in-law
        ("我妈的妹妹能共济吗", False),  # aunt
        ("我儿子的媳妇能共济吗", False),  # daughter-in-law, not a spouse
        ("我舅舅的儿子能共济吗", False),  # cousin
        ("我妈的妈妈能用吗", True),  # grandmother
        ("我儿子的儿子能用我的个账吗", True),  # grandson
        ("我爸的爸爸能用我个账吗", True),
    ],
)
def test_possessive_chains_are_composed(engine: Engine, question: str, near: bool) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "sharing-relatives" and reply.kind == "case"
    assert ("✅" in reply.body) is near and ("❌" in reply.body) is not near


@pytest.mark.parametrize(
    ("question", "places"),
    [
        ("医保定点医院能办共济绑定吗", []),  # 保定 inside 医保定点
        ("推广安全的共济方式有哪些", []),  # 广安 inside 推广安全
        ("我在江苏无锡,能跨省共济吗", ["无锡市"]),  # the city, not also its province
        ("宝鸡能跨省共济吗", ["宝鸡市"]),  # 鸡能 is not repaired to 技能
        ("在郑州上班,我妈在信阳", ["郑州市", "信阳市"]),
    ],
)
def test_places_are_whole_words(engine: Engine, question: str, places: list[str]) -> None:
    lex = engine.lexicon
    found = engine.regions.find(lex.prepare(question), lex.boundaries, lex.is_word)
    assert [p.name for p in found] == places


def test_every_known_place_and_relative_is_recognised_in_a_sentence(engine: Engine) -> None:
    lex = engine.lexicon
    for word in engine.regions.words():
        text = lex.prepare(f"我在{word}上班,能跨省共济吗")
        assert engine.regions.find(text, lex.boundaries, lex.is_word), word
    for word in engine.relatives.words():
        assert engine.relatives.find(lex.prepare(f"我{word}能用我的医保个账吗")), word


def test_typo_repair_never_invents_a_relative(engine: Engine) -> None:
    prepared = engine.lexicon.prepare("我妹没参保能用我的个账吗")
    assert "妹妹" not in prepared


@pytest.mark.parametrize(
    ("question", "in_batch"),
    [
        ("苏州能跨省共济吗", True),
        ("恩施州开通跨省共济了没", True),
        ("雄安新区可以跨省共济吗", True),
        ("广州能跨省共济吗", False),
        ("北京开通跨省共济了吗", False),
    ],
)
def test_region_verdicts(engine: Engine, question: str, in_batch: bool) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "sharing-cross-province"
    assert reply.kind == "case"
    assert ("✅" in reply.body) is in_batch
    if not in_batch:
        assert "首批" in reply.body and "确认" in reply.body


def test_guangzhou_answer_says_what_happened_since(engine: Engine) -> None:
    body = engine.answer("广州能跨省共济吗").body
    assert "广东" in body and "2026" in body


@pytest.mark.parametrize(
    "question",
    ["今天天气怎么样", "护照去哪办", "推荐个手机", "养老金每个月能领多少", "公积金怎么提取",
     "65年出生的女的哪年退休"],
)
def test_out_of_scope_questions_get_no_answer(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id is None
    assert reply.kind == "none"
    assert any(line in reply.body for line in ("12393", "12333", "12329"))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("設保卡有什麼用?", "card-uses"),
        ("大家好🙏请问亲请服务怎么开通？？谢谢！", "bind-family-service"),
        ("ＡＴＭ能用社保卡取钱吗", "card-finance"),
        ("医保个人账户家庭公济是什么意思", "sharing-what"),
    ],
)
def test_noisy_questions_find_their_entry(engine: Engine, question: str, expected: str) -> None:
    assert engine.answer(question).entry_id == expected


def test_answer_carries_source_date_and_local_caveat(engine: Engine) -> None:
    reply = engine.answer("什么是个人账户家庭共济")
    assert reply.entry_id == "sharing-what"
    assert "来源" in reply.footer and "2026" in reply.footer and "以当地" in reply.footer
    assert "2024年7月" in reply.body and "今年7月" not in reply.body
    actions = [b.action for b in reply.flat_buttons()]
    assert any(a.startswith("q:") for a in actions)
    assert "fb:+:sharing-what" in actions and "fb:-:sharing-what" in actions


def test_did_you_mean_offers_at_most_three_and_none_of_these(engine: Engine) -> None:
    for question in ("共济", "社保卡", "灵活就业", "绑定"):
        reply = engine.answer(question)
        if reply.kind == "suggest":
            actions = [b.action for b in reply.flat_buttons()]
            assert 1 <= len(reply.suggestions) <= 3
            assert actions[-1] == "none"
            return
    pytest.fail("no vague question produced suggestions")


def test_no_answer_ever_asks_for_numbers_or_passwords(engine: Engine) -> None:
    forbidden = ("请发送你的身份证", "请提供身份证号", "告诉我你的密码", "发给我卡号")
    for entry in engine.kb.entries.values():
        assert not any(f in entry.answer for f in forbidden), entry.id


def test_empty_and_smalltalk_never_crash(engine: Engine) -> None:
    for text in ("", "   ", "🙏🙏", "谢谢", "你好", "？？？", "a" * 5000, "社保" * 2000, "\x00\x01",
                 "\ud800社保卡", "a\udfff", "\u202e医保\u200b共济\ufeff"):
        reply = engine.answer(text)
        assert reply.text


def test_every_out_of_scope_topic_points_to_a_human_channel(engine: Engine) -> None:
    for topic in engine.kb.out_of_scope:
        reply = engine.answer(topic.examples[0])
        if reply.kind == "none":
            assert any(n in reply.body for n in ("12393", "12333", "12329")), topic.id
