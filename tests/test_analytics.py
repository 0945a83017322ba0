"""The analytics store: round trip, anonymised users, redacted numbers, concurrent writes, reopening."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from bot.analytics import (
    ANSWERED,
    DB_FILE,
    FEEDBACK_DOWN,
    NONE_OF_THESE,
    SALT_FILE,
    SUGGESTION_CHOSEN,
    UNANSWERED,
    Analytics,
    AnalyticsFeedbackSink,
    kind_of,
    read_events,
)
from bot.engine.reply import Reply

USER_ID = 123456789
ID_NUMBER = "11010519491231002X"  # the GB 11643 sample number: valid check character
PHONE = "13800138000"
BURST = 500


@pytest.fixture()
async def store(tmp_path: Path):  # noqa: ANN201 - async generator fixture
    analytics = Analytics.open(tmp_path)
    yield analytics
    await analytics.close()


async def test_records_and_reads_back(store: Analytics, tmp_path: Path) -> None:
    await store.record(ANSWERED, entry_id="card-what", score=0.91, chat_type="private",
                       user_id=USER_ID, question="社保卡有什么用")
    await store.record(SUGGESTION_CHOSEN, chosen_entry_id="sharing-how", chat_type="group",
                       user_id=USER_ID, question="怎么给家里人用")
    await store.flush()
    events = read_events(tmp_path)
    assert [e.kind for e in events] == [ANSWERED, SUGGESTION_CHOSEN]
    first, second = events
    assert (first.entry_id, first.score, first.chat_type, first.question) == (
        "card-what", pytest.approx(0.91), "private", "社保卡有什么用")
    assert second.chosen_entry_id == "sharing-how" and second.entry_id is None
    assert first.ts.tzinfo == dt.UTC
    assert abs(dt.datetime.now(dt.UTC) - first.ts) < dt.timedelta(minutes=1)


async def test_user_id_is_never_stored_raw(store: Analytics, tmp_path: Path) -> None:
    await store.record(FEEDBACK_DOWN, entry_id="x", chat_type="private", user_id=USER_ID)
    await store.record(FEEDBACK_DOWN, entry_id="x", chat_type="private", user_id=USER_ID + 1)
    await store.flush()
    events = read_events(tmp_path)
    hashes = [e.user_hash for e in events]
    assert hashes[0] != hashes[1] and all(h and len(h) == 64 for h in hashes)
    assert str(USER_ID) not in "".join(hashes)  # type: ignore[arg-type]
    assert str(USER_ID).encode() not in (tmp_path / DB_FILE).read_bytes()
    # A keyed hash: the same id under another install's salt does not match.
    other = Analytics.open(tmp_path / "other")
    try:
        assert other.anonymise(USER_ID) != hashes[0] == store.anonymise(USER_ID)
    finally:
        await other.close()
    assert (tmp_path / SALT_FILE).stat().st_mode & 0o077 == 0


async def test_numbers_are_redacted(store: Analytics, tmp_path: Path) -> None:
    await store.record(UNANSWERED, chat_type="private", user_id=USER_ID,
                       question=f"我身份证{ID_NUMBER}手机{PHONE}怎么查余额")
    await store.flush()
    (event,) = read_events(tmp_path)
    assert event.question is not None
    assert ID_NUMBER not in event.question and PHONE not in event.question
    assert "已隐藏" in event.question and "怎么查余额" in event.question
    assert ID_NUMBER.encode() not in (tmp_path / DB_FILE).read_bytes()


async def test_burst_of_concurrent_records_all_land(store: Analytics, tmp_path: Path) -> None:
    async def one(i: int) -> None:
        await asyncio.sleep(0)
        await store.record(UNANSWERED, chat_type="supergroup", user_id=i, question=f"问题{i}号")

    await asyncio.gather(*(one(i) for i in range(BURST)))
    await store.flush()
    events = read_events(tmp_path)
    assert len(events) == BURST
    assert {e.question for e in events} == {f"问题{i}号" for i in range(BURST)}


async def test_two_stores_writing_at_once_do_not_lock(tmp_path: Path) -> None:
    """Two processes' worth of writers (e.g. an old and a new bot during a restart) on one file."""
    first, second = Analytics.open(tmp_path), Analytics.open(tmp_path)
    await asyncio.gather(*(s.record(ANSWERED, entry_id=str(i)) for i in range(BURST)
                           for s in (first, second)))
    await asyncio.gather(first.close(), second.close())
    assert len(read_events(tmp_path)) == 2 * BURST


async def test_reopening_keeps_data_and_salt(tmp_path: Path) -> None:
    first = Analytics.open(tmp_path)
    await first.record(NONE_OF_THESE, user_id=USER_ID, question="都不对")
    hashed = first.anonymise(USER_ID)
    await first.close()
    second = Analytics.open(tmp_path)
    await second.record(ANSWERED, entry_id="e", user_id=USER_ID)
    await second.close()
    events = read_events(tmp_path)
    assert [e.kind for e in events] == [NONE_OF_THESE, ANSWERED]
    assert {e.user_hash for e in events} == {hashed}
    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_period_filter_and_backdating(store: Analytics, tmp_path: Path) -> None:
    day = dt.datetime(2025, 9, 1, 23, 30, tzinfo=dt.UTC)
    for offset in range(3):
        await store.record(ANSWERED, entry_id="e", at=day + dt.timedelta(days=offset))
    await store.flush()
    since, until = dt.datetime(2025, 9, 2, tzinfo=dt.UTC), dt.datetime(2025, 9, 3, tzinfo=dt.UTC)
    (event,) = read_events(tmp_path, since, until)
    assert event.ts == day + dt.timedelta(days=1)


async def test_bad_kind_and_closed_store_are_refused(tmp_path: Path) -> None:
    analytics = Analytics.open(tmp_path)
    with pytest.raises(ValueError, match="unknown analytics event kind"):
        await analytics.record("clicked")
    await analytics.close()
    with pytest.raises(RuntimeError):
        await analytics.record(ANSWERED)


async def test_unknown_chat_type_is_generalised(store: Analytics, tmp_path: Path) -> None:
    await store.record(ANSWERED, chat_type="something-new")
    await store.flush()
    assert read_events(tmp_path)[0].chat_type == "other"


async def test_feedback_sink_adapter(store: Analytics, tmp_path: Path) -> None:
    sink = AnalyticsFeedbackSink(store)
    sink.record("feedback_down", "card-what", USER_ID, "private", "手机13800138000收不到")
    sink.record("none_of_these", None, USER_ID, None, "都不是")
    await store.flush()
    down, none = read_events(tmp_path)
    assert (down.kind, down.entry_id, down.chat_type) == (FEEDBACK_DOWN, "card-what", "private")
    assert down.question is not None and PHONE not in down.question
    assert (none.kind, none.chat_type) == (NONE_OF_THESE, None)


def test_kind_of_reply() -> None:
    assert kind_of(Reply("x", kind="answer")) == ANSWERED
    assert kind_of(Reply("x", kind="case")) == ANSWERED
    assert kind_of(Reply("x", kind="none")) == UNANSWERED
    assert kind_of(Reply("x", kind="menu")) is None


def test_reading_without_a_database_creates_nothing(tmp_path: Path) -> None:
    assert read_events(tmp_path) == []
    assert not (tmp_path / DB_FILE).exists()
