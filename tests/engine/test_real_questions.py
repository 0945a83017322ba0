"""What people ask most, read as they ask it: relatives named with the card, chains with a pronoun,
lent cards, deceased relatives, several places at once, small talk and questions about other things."""

from __future__ import annotations

import re

import pytest

from bot.engine import Engine
from bot.engine import messages as msg


def verdicts(text: str) -> list[str]:
    """The verdict marks of a reply, in order."""
    return re.findall("✅|❌|ℹ️", text)


@pytest.mark.parametrize(
    "question",
    ["孩子能用我的医保卡吗", "我孙子能用我的医保卡吗", "儿子能用我的社保卡吗", "女儿可以用我的医保吗",
     "我妈能不能用我卡里的钱", "哥哥能用我医保吗", "外婆可以用我医保卡里的钱不"],
)
def test_a_near_relative_named_with_the_card_gets_the_verdict(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.kind == "case" and reply.entry_id == "sharing-relatives", question
    assert verdicts(reply.body) == ["✅"], reply.body
    assert "冒名就医" in reply.body  # the card itself is not to be handed over


@pytest.mark.parametrize(
    "question",
    ["我老婆她妈能用我的个账吗", "我老公他爸能用我的医保个账吗", "我儿子他媳妇能共济吗",
     "我妈她妹妹能用我的个账吗", "我弟他老婆可以用我的医保个账吗"],
)
def test_a_chain_with_a_pronoun_is_one_person(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.kind == "case"
    assert verdicts(reply.body) == ["❌"], reply.body


def test_an_uninsured_relative_is_told_the_way_forward(engine: Engine) -> None:
    body = engine.answer("我妈没有医保能用我的个账吗").body
    assert verdicts(body) == ["✅"] and msg.RELATIVE_UNINSURED in body


@pytest.mark.parametrize(
    "question",
    ["我老伴走了他医保卡里的钱怎么办", "我爸去世了医保个人账户的钱能取出来吗",
     "我妈去世了医保个账余额能给我吗"],
)
def test_a_deceased_relatives_balance_gets_the_withdrawal_answer(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "account-withdraw", question
    assert not verdicts(reply.body)


@pytest.mark.parametrize(
    "question",
    ["用老公的医保卡给我看病可以吗", "把我的医保卡给孙子去药店刷", "拿我妈的社保卡去医院开药行不行",
     "我的医保卡借给朋友买药会怎么样"],
)
def test_a_lent_card_is_card_lend_whoever_holds_it(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "card-lend", question
    assert "✅" not in reply.body


def test_money_in_the_card_is_not_the_card(engine: Engine) -> None:
    """"用我卡里的钱" asks about sharing the account, not lending the card."""
    reply = engine.answer("我想让我妈用我医保卡里攒的钱看病,要去哪办")
    assert reply.entry_id != "card-lend"


def test_places_outside_the_batch_are_named_once(engine: Engine) -> None:
    body = engine.answer("广州和湖南能跨省共济吗").body
    assert body.count(msg.REGION_OUT.format(name="广州、湖南", count=31)) == 1
    assert body.count("2026年1月9日") == 1
    many = "、".join(["南京", "杭州", "广州", "深圳", "长沙", "武汉", "西安", "昆明"])
    long = engine.answer(f"{many}能跨省共济吗").body
    assert len(long) < 1200 and long.count("2026年1月9日") == 1


def test_a_province_partly_in_the_batch_gets_a_partial_verdict(engine: Engine) -> None:
    body = engine.answer("重庆能跨省共济吗").body
    assert "✅" not in body and "云阳县" in body and "部分" in body


def test_guangdong_is_described_plainly(engine: Engine) -> None:
    body = engine.answer("深圳能跨省共济吗").body
    assert "广东" in body and "医保钱包" in body and "没有查到" in body


@pytest.mark.parametrize("question", ["外婆能用我的医保个账吗", "苏州能跨省共济吗"])
def test_a_verdict_carries_its_entrys_date(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    entry = engine.kb.entries[str(reply.entry_id)]
    assert reply.footer == engine.footer(entry)


def test_no_answer_invents_a_likeness_to_shenzhen(engine: Engine) -> None:
    assert "深圳" not in engine.kb.entries["bind-online"].answer


@pytest.mark.parametrize(
    ("question", "intent"),
    [("你们是官方的吗", "official"), ("你会什么", "abilities"), ("你都会啥", "abilities"),
     ("你叫什么", "identity"), ("你这也不知道那也不知道", "frustrated"),
     ("太复杂了 我看不懂", "frustrated"), ("算了不问了", "bye"), ("谢谢你啊", "thanks"),
     ("绑定", "bind"), ("你好呀~", "hello")],
)
def test_small_talk_gets_a_short_fitting_reply(engine: Engine, question: str, intent: str) -> None:
    reply = engine.answer(question)
    assert reply.kind == "smalltalk" and reply.entry_id is None
    assert reply.body == engine.smalltalk.intents[intent].reply


def test_the_official_question_says_plainly_it_is_not(engine: Engine) -> None:
    body = engine.answer("你们是官方的吗").body
    assert body.startswith("不是") and "12393" in body and "12333" in body


def test_the_bare_word_bind_offers_the_dialogue(engine: Engine) -> None:
    reply = engine.answer("绑定")
    assert [b.action for row in reply.buttons for b in row] == ["flow:bind"]


@pytest.mark.parametrize(
    "question",
    ["去韩国旅游要办签证吗", "哪家医院看牙比较好", "广州到深圳高铁多少钱", "今天股市怎么样",
     "信用卡密码忘了怎么办", "手机卡丢了怎么补", "激活windows要钥匙吗", "附近有什么好吃的",
     "个税汇算怎么退税", "推荐一只基金", "周末成都有没有好玩的地方", "去厦门玩可以吗",
     "谁有充电宝 借我用一下", "超市会员卡能借给朋友用吗", "给岳父岳母送什么年货好"],
)
def test_questions_about_other_things_are_never_answered(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id is None and reply.kind in ("none", "smalltalk"), (question, reply.entry_id)


@pytest.mark.parametrize("question", ["在外省的爹妈能共济我的医保个账吗", "我儿子在外省上学,能跨省用我的个账吗"])
def test_a_near_relative_in_another_province_gets_the_cross_province_answer(
        engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.entry_id == "sharing-cross-province", question
    assert reply.body.startswith("✅") and "医保钱包" in reply.body


def test_a_relative_in_the_home_town_is_still_a_question_about_who(engine: Engine) -> None:
    """老家 may be in the same province: the verdict on the relative answers it."""
    assert engine.answer("我奶奶在老家交的居民医保,她能用我的个账吗").entry_id == "sharing-relatives"


def test_a_relative_mentioned_in_passing_gets_no_verdict(engine: Engine) -> None:
    """孙子 only did the errand: the question is how to start using one's own card."""
    reply = engine.answer("那个那个我的社保卡是孙子给办的现在拿到手了要去哪里弄一下才能用啊")
    assert reply.entry_id == "card-activate" and not verdicts(reply.body)


def test_a_broken_card_is_about_the_card(engine: Engine) -> None:
    assert engine.answer("社保卡刷不了了是不是坏了要去哪里换").entry_id == "card-lost"


@pytest.mark.parametrize("question", ["能用个账给孩子交居民医保吗", "我妈的新农合能从我的医保个账里扣吗"])
def test_paying_a_relatives_resident_insurance_from_the_account(engine: Engine, question: str) -> None:
    assert engine.answer(question).entry_id == "sharing-what-pays", question


def test_a_relative_insured_elsewhere_still_gets_the_verdict(engine: Engine) -> None:
    """"她在老家交的居民医保" says she is insured; it does not ask to pay for her."""
    reply = engine.answer("我外婆能用我医保卡里的个账吗?她在老家交的居民医保")
    assert reply.entry_id == "sharing-relatives" and verdicts(reply.body) == ["✅"]


def test_flexible_work_entries_need_flexible_work_in_the_question(engine: Engine) -> None:
    assert engine.answer("生娃能从社保拿到钱吗").entry_id != "flexible-other-insurance"
    assert engine.answer("灵活就业能享受生育待遇吗").entry_id == "flexible-other-insurance"


@pytest.mark.parametrize("question", ["我跑外卖的 自己交医保有什么用", "自由职业自己交医保有用吗"])
def test_a_flexible_worker_gets_the_flexible_work_twin(engine: Engine, question: str) -> None:
    """cues.yaml `yields`: the general insurance entries step back for a flexible worker."""
    assert engine.answer(question).entry_id == "flexible-medical", question


@pytest.mark.parametrize("question", ["钱包被偷了社保卡也没了 怎么补办", "社保卡也没了 要去哪补"])
def test_a_card_that_is_gone_is_lost_not_a_death(engine: Engine, question: str) -> None:
    """走了/没了 speak of a death only when said of a person."""
    assert engine.answer(question).entry_id == "card-lost", question


def test_a_typo_repair_never_splits_two_real_words(engine: Engine) -> None:
    """直接给我 is not 直借给我: a lent card is not what this asks."""
    assert engine.answer("医院医保办能不能直接给我办共济绑定").entry_id == "bind-hospital"


@pytest.mark.parametrize(
    ("question", "mark"),
    [("我外公能跟我绑共济吗", "✅"), ("想把医保个账给外孙用 这样行吗", "✅"), ("我嫂子能和我绑共济吗", "❌")],
)
def test_may_they_said_with_gen_wo_or_at_the_end_gets_the_verdict(engine: Engine, question: str,
                                                                    mark: str) -> None:
    """能跟我绑, 给外孙用 这样行吗: still a question about whether this relative may share."""
    reply = engine.answer(question)
    assert reply.entry_id == "sharing-relatives" and verdicts(reply.body)[:1] == [mark], question


@pytest.mark.parametrize(
    ("question", "entry"),
    [("shebaoka diule zenme buban", "card-lost"), ("yidi jiuyi bei an zenme ban", "medical-remote"),
     ("yibao geren zhanghu yu'e chaxun", "card-balance")],
)
def test_a_question_typed_in_pinyin_is_read(engine: Engine, question: str, entry: str) -> None:
    assert engine.answer(question).entry_id == entry, question


def test_english_words_are_not_read_as_pinyin(engine: Engine) -> None:
    for text in ("app怎么下载", "iphone怎么激活", "hr说ok"):
        assert engine.lexicon.prepare(text) == text


@pytest.mark.parametrize("question", ["工行借记卡怎么激活", "交通卡里的余额怎么查", "信用卡丢了先挂失还是先补办"])
def test_another_card_is_not_ours(engine: Engine, question: str) -> None:
    """激活, 挂失, 余额 are our words; a bank or transport card is not our card."""
    reply, match = engine.answer_and_match(question)
    assert reply.entry_id is None and match is not None and match.rule == "other-card", question


def test_a_card_of_ours_named_beside_a_bank_card_is_ours(engine: Engine) -> None:
    assert engine.answer("社保卡的银行卡功能怎么激活").entry_id == "card-activate"


@pytest.mark.parametrize(("question", "entry"), [("今天累死了 问下社保卡借给我舅看病行吗", "card-lend"),
                                                 ("钱包被人偷走了 社保卡也在里面 先挂失吗", "card-lost")])
def test_figures_of_speech_are_not_a_death(engine: Engine, question: str, entry: str) -> None:
    assert engine.answer(question).entry_id == entry, question
