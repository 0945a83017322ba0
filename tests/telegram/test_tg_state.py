"""The bot's state on SQLite: one row per chat and user, only changed rows written, old history
expired and numbers redacted, the old pickle taken over, damage set aside."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
import time
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from bot.analytics import ANSWERED, DB_FILE, SALT_FILE, Analytics, read_events
from bot.telegram.journal import JOURNAL_FILE, UpdateJournal
from bot.telegram.memory import REPLIES_KEY, REPLY_TTL_S, ChatData, UserData
from bot.telegram.persistence import StatePersistence, read_state
from tests.fakes.bot_api import DEFAULT_TOKEN

pytestmark = pytest.mark.asyncio

ID_NUMBER = "110101199003074514"  # valid check digit, made up
CHATS = 2_000  # chats in the state: a write after one update must touch one row whatever this is


async def opened(path: Path, legacy: Path | None = None) -> StatePersistence:
    """A persistence as the Application opens it (bot set, everything read)."""
    persistence = StatePersistence(path, legacy)
    persistence.set_bot(ExtBot(DEFAULT_TOKEN))
    await persistence.get_user_data()
    await persistence.get_chat_data()
    return persistence


async def test_one_update_writes_one_row_whatever_the_number_of_chats(tmp_path: Path) -> None:
    """With thousands of chats stored, a changed chat is one row written, an unchanged one none."""
    path = tmp_path / "state.sqlite3"
    persistence = await opened(path)
    for chat in range(CHATS):
        data = ChatData()
        data.remember(1, [2], f"问题 {chat}")
        await persistence.update_chat_data(-chat - 1, data)
    await persistence.flush()
    assert persistence.rows_written == CHATS and persistence.writes == 1
    await persistence.close()

    again = await opened(path)
    chats = await again.get_chat_data()
    assert len(chats) == CHATS
    one = chats[-7]
    one.remember(3, [4], "又一个问题")
    await again.update_chat_data(-7, one)
    await again.update_chat_data(-8, chats[-8])  # handed over unchanged
    await again.flush_if_dirty()
    assert again.rows_written == 1 and again.writes == 1
    await again.close()
    assert read_state(path)[1][-7][REPLIES_KEY][3]["q"] == "又一个问题"


async def test_history_expires_and_numbers_are_redacted(tmp_path: Path) -> None:
    """Questions are stored without their numbers; past REPLY_TTL_S they are forgotten."""
    path = tmp_path / "state.sqlite3"
    persistence = await opened(path)
    data = ChatData()
    data.remember(1, [2], f"我的身份证 {ID_NUMBER} 能用吗")
    data.remember(5, [6], "新问题")
    data[REPLIES_KEY][1]["t"] = time.time() - REPLY_TTL_S - 1  # asked more than two days ago
    data[REPLIES_KEY][7] = {"bot": [8], "q": f"身份证 {ID_NUMBER}"}  # as an older version kept it
    await persistence.update_chat_data(-1, data)
    await persistence.flush()
    await persistence.close()
    stored = read_state(path)[1][-1][REPLIES_KEY]
    assert sorted(stored) == [5, 7]  # the question of two days ago is gone from disk
    assert all(ID_NUMBER not in noted["q"] for noted in stored.values())
    assert "身份证" in stored[7]["q"]
    fresh = ChatData()
    fresh.remember(9, [10], f"身份证 {ID_NUMBER}")
    assert ID_NUMBER not in fresh[REPLIES_KEY][9]["q"]


async def test_the_old_pickle_state_is_taken_over(tmp_path: Path) -> None:
    """A pickle written by an older version is read on first start, stored, and renamed."""
    legacy = tmp_path / "telegram-state.pickle"
    old = {"user_data": {7: {"dialogue": {"flow": "bind", "step": "cross"}}},
           "chat_data": {-9: {"group_settings": {"auto_answer": True}}},
           "bot_data": {}, "conversations": {}, "callback_data": None}
    legacy.write_bytes(pickle.dumps(old))
    path = tmp_path / "telegram-state.sqlite3"
    persistence = await opened(path, legacy)
    users, chats = await persistence.get_user_data(), await persistence.get_chat_data()
    assert users[7]["dialogue"]["step"] == "cross" and isinstance(users[7], UserData)
    assert chats[-9].auto_answer is True
    assert not legacy.exists() and list(tmp_path.glob("telegram-state.pickle.migrated-*"))
    await persistence.close()
    assert read_state(path) == ({7: old["user_data"][7]}, {-9: old["chat_data"][-9]})
    assert persistence.problem is None


async def test_a_damaged_state_file_is_set_aside(tmp_path: Path) -> None:
    """Garbage where the state should be: the bot starts afresh, keeps the file aside, says so."""
    path = tmp_path / "telegram-state.sqlite3"
    path.write_bytes(b"this is no database\n" * 100)
    persistence = await opened(path)
    assert await persistence.get_user_data() == {}
    assert persistence.problem is not None and "set aside" in persistence.problem
    (aside,) = tmp_path.glob("telegram-state.sqlite3.damaged-*")
    assert aside.read_bytes().startswith(b"this is no database")
    await persistence.update_user_data(1, UserData({"x": 1}))
    await persistence.flush()
    await persistence.close()
    assert read_state(path)[0] == {1: {"x": 1}}


async def test_unreadable_rows_are_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    """A row that cannot be read costs that row only; the problem is reported."""
    path = tmp_path / "telegram-state.sqlite3"
    persistence = await opened(path)
    for user in (1, 2, 3):
        await persistence.update_user_data(user, UserData({"n": user}))
    await persistence.flush()
    await persistence.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE user_data SET data = ? WHERE id = 2", (b"\x80garbage",))
    conn.close()
    again = await opened(path)
    assert await again.get_user_data() == {1: {"n": 1}, 3: {"n": 3}}
    assert again.problem is not None and "unreadable" in again.problem
    await again.close()


async def test_a_damaged_old_pickle_is_set_aside(tmp_path: Path) -> None:
    """A broken pickle from an older version does not stop the start: set aside, reported."""
    legacy = tmp_path / "telegram-state.pickle"
    legacy.write_bytes(b"\x80\x04half a pickle")
    persistence = await opened(tmp_path / "telegram-state.sqlite3", legacy)
    assert await persistence.get_user_data() == {}
    assert persistence.problem is not None and "damaged" in persistence.problem
    assert not legacy.exists() and list(tmp_path.glob("telegram-state.pickle.damaged-*"))
    await persistence.close()


async def test_a_damaged_analytics_database_is_set_aside(tmp_path: Path) -> None:
    """An analytics file that is no database: set aside, a new one started, the problem told."""
    (tmp_path / DB_FILE).write_bytes(b"garbage, not SQLite" * 200)
    (tmp_path / SALT_FILE).write_text("not hex at all")
    store = Analytics.open(tmp_path)
    assert store.problem is not None and "set aside" in store.problem and "salt" in store.problem
    assert len(list(tmp_path.glob(f"{DB_FILE}.damaged-*"))) == 1
    assert len(list(tmp_path.glob(f"{SALT_FILE}.damaged-*"))) == 1
    await store.record(ANSWERED, entry_id="e", user_id=1)
    await store.close()
    assert [e.kind for e in read_events(tmp_path)] == [ANSWERED]


async def test_the_update_journal_keeps_what_is_not_yet_handled(tmp_path: Path) -> None:
    """Written before acknowledging, crossed off once handled; what is left comes back at the next
    start; an update received again is recognised (a batch PTB asks for again is not)."""
    path = tmp_path / JOURNAL_FILE
    first = UpdateJournal(path)
    assert await asyncio.to_thread(first.open) == []
    updates = [{"update_id": i, "message": {"text": f"问题{i}"}} for i in (10, 11, 12)]
    assert await first.add(updates) == [True, True, True]
    assert await first.add(updates[:1]) == [False]  # Telegram sending it again
    assert await first.add(updates[:1], again_in_this_run=True) == [True]  # PTB's retry
    await first.done(10)
    await first.close()  # as a kill would leave it: 11 and 12 not handled

    second = UpdateJournal(path)
    assert await asyncio.to_thread(second.open) == updates[1:]
    assert await second.add(updates, again_in_this_run=True) == [False, False, False]
    await second.close()


async def test_a_damaged_journal_is_set_aside(tmp_path: Path) -> None:
    """A journal that is no database: set aside, a new one used, the problem told."""
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(b"garbage" * 300)
    journal = UpdateJournal(path)
    assert await asyncio.to_thread(journal.open) == []
    assert journal.on and journal.problem is not None and "set aside" in journal.problem
    assert await journal.add([{"update_id": 1}]) == [True]
    await journal.close()
    assert list(tmp_path.glob(f"{JOURNAL_FILE}.damaged-*"))
