"""What the bot records for curators, through Telegram, and a burst of 500 updates into SQLite."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
from collections import Counter
from typing import TYPE_CHECKING

from bot.analytics import (
    ANSWERED,
    DB_FILE,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    NONE_OF_THESE,
    SUGGESTED,
    SUGGESTION_CHOSEN,
    UNANSWERED,
    Analytics,
    read_events,
)
from bot.engine import Engine
from bot.engine import messages as msg
from bot.report import load_report, period_from
from bot.settings import Settings
from tests.fakes.bot_api import FakeBotApi

from .conftest import Person, wait_until
from .ops_helpers import serving

if TYPE_CHECKING:
    from bot.analytics import Event

BURST = 500  # updates in the burst
BURST_USERS = 50  # distinct users sending them
BURST_TIMEOUT = 30.0  # seconds for the whole burst to be answered (it takes two or three)
READ_PAUSE = 0.2  # seconds between the concurrent reader's reports
PHONE = "13800138000"


def suggest_question(engine: Engine) -> str:
    """A question the engine answers with "did you mean"."""
    return next(q for q in ("共济", "绑定", "家人", "钱", "卡") if engine.answer(q).kind == "suggest")


def unanswerable(engine: Engine) -> str:
    """A question the knowledge base has nothing for."""
    return next(q for q in ("abc", "嗯嗯嗯", "xyz", "啊这") if engine.answer(q).kind == "none")


async def test_questions_choices_and_votes_are_recorded(api: FakeBotApi, settings: Settings,
                                                        engine: Engine, person: Person) -> None:
    """Answered, "did you mean" shown and chosen, 都不是, unanswered, 👍/👎: one event each."""
    store = Analytics.open(settings.data_dir)
    question = "外婆能用我的医保吗"
    async with serving(settings, engine, analytics=store):
        (answer,) = await person.say(question)
        up = person.data_of(answer, msg.FEEDBACK_UP)
        await person.press(answer, msg.FEEDBACK_UP, edits=0)
        await person.press(answer, "", data=up, edits=0, force=True)  # again: not recorded
        (other,) = await person.say(question)
        await person.press(other, msg.FEEDBACK_DOWN, edits=0)

        vague = suggest_question(engine)
        (suggest,) = await person.say(vague)
        chosen = engine.answer(vague).suggestions[0]
        await person.press(suggest, "", data=f"q:{chosen}", edits=0, sends=1)
        await person.press(suggest, "", data=f"q:{chosen}", edits=0, sends=1)  # again: not recorded
        (again,) = await person.say(vague)
        await person.press(again, msg.NONE_OF_THESE_BUTTON, edits=0, sends=1)

        nothing = unanswerable(engine)
        await person.say(nothing)
        await person.say(f"我手机{PHONE}收不到电子社保卡验证码怎么办", replies=2)  # warning + answer
    assert store.path.is_file()  # closed on shutdown, everything written

    events = read_events(settings.data_dir)
    kinds = [e.kind for e in events]
    assert kinds == [ANSWERED, FEEDBACK_UP, ANSWERED, FEEDBACK_DOWN, SUGGESTED, SUGGESTION_CHOSEN,
                     SUGGESTED, NONE_OF_THESE, UNANSWERED, kinds[-1]]
    by_kind: dict[str, Event] = {}
    for event in events:
        by_kind.setdefault(event.kind, event)  # the first of each kind
    expected = engine.answer(question)
    assert by_kind[ANSWERED].entry_id == expected.entry_id and by_kind[ANSWERED].score
    assert by_kind[FEEDBACK_UP].entry_id == expected.entry_id
    assert by_kind[FEEDBACK_UP].question == question
    assert by_kind[SUGGESTION_CHOSEN].chosen_entry_id == chosen
    assert by_kind[SUGGESTION_CHOSEN].question == vague
    assert by_kind[NONE_OF_THESE].question == vague
    assert by_kind[UNANSWERED].question == nothing
    assert PHONE not in (events[-1].question or "") and "收不到" in (events[-1].question or "")
    assert {e.chat_type for e in events} == {"private"}
    hashes = {e.user_hash for e in events}
    assert len(hashes) == 1 and str(person.id) not in hashes.pop()  # type: ignore[operator]


async def test_burst_of_500_updates_with_concurrent_writers(
    api: FakeBotApi, settings: Settings, engine: Engine
) -> None:
    """500 questions from 50 users at once, while another writer and a reader use the database.

    Telegram's 30 messages a second are lifted (send_rate=0), so that the burst really is one.
    """
    settings = dataclasses.replace(settings, send_rate=0)
    store = Analytics.open(settings.data_dir)
    other = Analytics.open(settings.data_dir)  # e.g. a second process on the same data dir
    people = [Person(api, f"用户{i}") for i in range(BURST_USERS)]
    questions = ["社保卡能坐地铁吗", "外婆能用我的医保吗", suggest_question(engine), unanswerable(engine),
                 "灵活就业交社保划算吗"]
    stop_reading = threading.Event()
    reads: list[int] = []

    def reader() -> None:  # a curator running the report during the burst
        while not stop_reading.wait(READ_PAUSE):
            reads.append(len(load_report(settings.data_dir, period_from(None, None, 1)).days))

    thread = threading.Thread(target=reader, daemon=True)
    async with serving(settings, engine, analytics=store):
        thread.start()
        try:
            for i in range(BURST):
                who = people[i % BURST_USERS]
                await api.send_text(who.chat, who.user, questions[i % len(questions)])
            writes = [other.record(ANSWERED, entry_id="other-writer", user_id=i) for i in range(BURST)]
            await asyncio.gather(*writes)
            await wait_until(lambda: len(api.calls_of("sendMessage")) >= BURST, f"{BURST} answers",
                             api, timeout=BURST_TIMEOUT)
            await other.close()
        finally:
            stop_reading.set()
            thread.join(timeout=BURST_TIMEOUT)
    assert reads, "the reader never got through"

    events = read_events(settings.data_dir)
    mine = Counter(e.kind for e in events if e.entry_id != "other-writer")
    assert sum(mine.values()) == BURST
    assert mine[UNANSWERED] == mine[SUGGESTED] == BURST // len(questions)
    assert sum(1 for e in events if e.entry_id == "other-writer") == BURST
    assert len({e.user_hash for e in events if e.entry_id != "other-writer"}) == BURST_USERS
    conn = sqlite3.connect(settings.data_dir / DB_FILE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
