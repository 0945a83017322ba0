"""What the analytics store keeps of a question: numbers in disguise are redacted before storing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.analytics import (
    MAX_QUESTION_CHARS,
    NONE_OF_THESE,
    UNANSWERED,
    Analytics,
    AnalyticsFeedbackSink,
    read_events,
)

DISGUISED = [
    ("一三八零零一三八零零零", "13800138000"),
    ("138\u200b0013\u200b8000", "13800138000"),
    ("(138)0013-8000", "13800138000"),
    ("١٣٨٠٠١٣٨٠٠٠", "13800138000"),
    ("110101/19900307/4514", "110101199003074514"),
    ("6222,0202,0000,1234,562", "6222020200001234562"),
    ("密碼是hunter22", "hunter22"),
    ("pass: ｈｕｎｔｅｒ２２", "hunter22"),
]


def stored_bytes(data_dir: Path) -> bytes:
    """Every byte the store left on disk (database, WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file())


@pytest.mark.parametrize(("typed", "digits"), DISGUISED)
async def test_disguised_numbers_never_reach_the_database(
        tmp_path: Path, typed: str, digits: str) -> None:
    """Recorded through record(), record_nowait() and the feedback sink: nothing of the number,
    in the form typed or as plain digits, is in any file of the store."""
    store = Analytics.open(tmp_path)
    try:
        question = f"我的号码{typed}能查吗"
        await store.record(UNANSWERED, question=question)
        store.record_nowait(UNANSWERED, question=question)
        AnalyticsFeedbackSink(store).record(NONE_OF_THESE, None, 1, "private", question)
        await store.flush()
    finally:
        await store.close()
    events = read_events(tmp_path)
    assert [e.kind for e in events] == [UNANSWERED, UNANSWERED, NONE_OF_THESE]
    for event in events:
        assert event.question is not None and "已隐藏]" in event.question
        assert event.question.startswith("我的号码") and event.question.endswith("能查吗")
    raw = stored_bytes(tmp_path)
    assert typed.encode() not in raw and digits.encode() not in raw


async def test_a_huge_question_is_cut_then_redacted_quickly(tmp_path: Path) -> None:
    """A 100,000-character question is redacted only as far as is kept (plus a window), and a
    number at the cut is hidden whole."""
    store = Analytics.open(tmp_path)
    try:
        question = "问" * (MAX_QUESTION_CHARS - 5) + "13800138000," + "1 " * 50_000
        await store.record(UNANSWERED, question=question)
        await store.flush()
    finally:
        await store.close()
    (event,) = read_events(tmp_path)
    assert event.question is not None and len(event.question) == MAX_QUESTION_CHARS
    assert "13800" not in event.question and event.question.endswith("[手机号已")
