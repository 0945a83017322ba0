"""The entries added for what people ask most beyond the article (issue 8): card activation, loss,
passwords, balance and lending; withdrawing from and paying into the personal account;
reimbursement, treatment in another region and the 医保 years at retirement."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.engine import Engine
from bot.engine.normalize import compact

NEW_ENTRIES = (
    "card-activate", "card-lost", "card-password", "card-balance", "card-lend",
    "account-withdraw", "account-inflow", "medical-reimburse", "medical-remote", "medical-years",
)
PHONE_SIZED = 600  # characters: an answer longer than this is a wall of text on a phone
LOCAL_CAVEATS = ("以当地", "以参保地", "各地")


@pytest.mark.parametrize("entry_id", NEW_ENTRIES)
def test_each_new_entry_answers_its_own_question(engine: Engine, entry_id: str) -> None:
    entry = engine.kb.entries[entry_id]
    reply = engine.answer(entry.question)
    assert (reply.kind, reply.entry_id) == ("answer", entry_id)


@pytest.mark.parametrize("entry_id", NEW_ENTRIES)
def test_each_new_entry_is_dated_sourced_short_and_local(engine: Engine, entry_id: str) -> None:
    entry = engine.kb.entries[entry_id]
    assert entry.source and entry.as_of == dt.date(2026, 11, 29)
    assert entry.review_by is not None and entry.review_by > entry.as_of
    assert 12 <= len(entry.alternates) <= 20
    assert len(entry.answer) <= PHONE_SIZED
    assert any(c in entry.answer for c in LOCAL_CAVEATS), "say what varies by city"
    assert "来源" not in entry.answer  # the source line is appended from `source`, not written in


# Typical phrasings that are deliberately NOT among the alternates (checked below).
UNSEEN = [
    ("新社保卡要去银行激活吗", "card-activate"),
    ("社保卡在哪里激活", "card-activate"),
    ("社保卡丢了怎么办", "card-lost"),
    ("社保卡芯片坏了怎么办", "card-lost"),
    ("社保卡密码忘了", "card-password"),
    ("电子社保卡的密码忘记了", "card-password"),
    ("医保卡余额怎么查", "card-balance"),
    ("在哪能看到医保卡里还有多少钱", "card-balance"),
    ("把我的医保卡给孙子去药店刷", "card-lend"),
    ("用老公的医保卡给我看病可以吗", "card-lend"),
    ("医保卡里的钱可以提现吗", "account-withdraw"),
    ("养老金打到社保卡里怎么取", "account-withdraw"),
    ("我老伴走了他医保卡里的钱怎么办", "account-withdraw"),
    ("为啥我医保卡每个月进的钱少了", "account-inflow"),
    ("退休人员个账每月打多少", "account-inflow"),
    ("医保报销比例是多少", "medical-reimburse"),
    ("医保起付线是什么意思", "medical-reimburse"),
    ("去外地住院要备案吗", "medical-remote"),
    ("异地备案怎么办理", "medical-remote"),
    ("医保交多少年退休才不用交", "medical-years"),
    ("医保缴费年限不够怎么补", "medical-years"),
]


@pytest.mark.parametrize(("question", "entry_id"), UNSEEN)
def test_typical_phrasings_find_the_new_entries(engine: Engine, question: str, entry_id: str) -> None:
    variants = {compact(v) for e in engine.kb.entries.values() for v in e.variants}
    assert compact(question) not in variants, "the test must ask something the KB does not list"
    reply = engine.answer(question)
    assert (reply.kind, reply.entry_id) == ("answer", entry_id)


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("社保卡怎么激活", "card-activate"),
        ("社保卡丢了怎么补办", "card-lost"),
        ("社保卡里的钱能取出来吗", "account-withdraw"),
        ("看病怎么报销", "medical-reimburse"),
        ("异地就医怎么备案", "medical-remote"),
    ],
)
def test_topics_once_refused_are_now_answered(engine: Engine, question: str, entry_id: str) -> None:
    reply = engine.answer(question)
    assert reply.kind != "none" and "不在我的知识库" not in reply.body
    assert reply.entry_id == entry_id


def test_covered_topics_left_the_out_of_scope_list(engine: Engine) -> None:
    gone = {"activation", "lost-card", "password", "reimbursement", "remote-medical", "withdraw",
            "balance-query", "account-inflow", "medical-years", "inheritance"}
    assert not gone & {t.id for t in engine.kb.out_of_scope}


@pytest.mark.parametrize("question", ["大病保险怎么报销", "养老金每个月能领多少", "公积金怎么提取"])
def test_what_stays_out_of_scope_is_still_refused_with_a_pointer(engine: Engine, question: str) -> None:
    reply = engine.answer(question)
    assert reply.kind == "none" and reply.entry_id is None
    assert any(n in reply.body for n in ("12393", "12333", "12329"))


def test_no_new_answer_asks_for_a_password_or_promises_bank_app_activation(engine: Engine) -> None:
    for entry_id in NEW_ENTRIES:
        answer = engine.kb.entries[entry_id].answer
        assert "请输入密码" not in answer and "告诉我" not in answer
    activate = engine.kb.entries["card-activate"].answer
    assert "本人" in activate and "银行App" in activate and "不同" in activate


def test_bind_online_claims_no_likeness_to_another_city(engine: Engine) -> None:
    answer = engine.kb.entries["bind-online"].answer
    assert "深圳" not in answer and "文章" in answer and "以当地" in answer
