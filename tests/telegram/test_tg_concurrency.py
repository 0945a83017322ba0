"""Updates of different chats run side by side; each chat's updates are handled in order."""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from telegram import Chat, InlineQuery, Message, Update, User

from bot.engine import Engine
from bot.settings import Settings
from bot.telegram.processor import MAX_CONCURRENT_UPDATES, PerChatUpdateProcessor, turn_key
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, Person, wait_until
from .test_tg_groups import VERDICT, Group, with_limiter

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
GROUP_RATE = 2, 0.5  # the limiter lets 2 messages into one group per half second in these tests
GROUP_BURST = 10  # /ask in one group at once: two and a half seconds of sends at GROUP_RATE
PROMPT_S = 1.0  # a private question must be answered this soon meanwhile
QUESTIONS = ("社保卡能坐地铁吗", "外婆能用我的医保吗", "灵活就业怎么交社保", "电子社保卡在哪里领",
             "跨省能共济吗", "社保卡丢了怎么办")


def slow_sends(api: FakeBotApi, low: float = 0.0, high: float = 0.03) -> None:
    """Answer each sendMessage after a random delay, so that sends finishing out of turn would show."""
    handler = api._dispatch

    async def dispatch(method: str, handler_: Any, params: JsonDict) -> Any:
        if method.lower() == "sendmessage":
            await asyncio.sleep(random.uniform(low, high))  # noqa: S311 - test jitter
        return await handler(method, handler_, params)

    setattr(api, "_dispatch", dispatch)  # noqa: B010 - replace the bound method for this test


async def test_a_rate_limited_group_does_not_hold_up_a_private_chat(
    api: FakeBotApi, settings: Settings, engine: Engine, start_bot: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten /ask in one group at 4 messages a second take two and a half seconds; a private
    question meanwhile is answered at once, and the group's answers still come in the order asked."""
    with_limiter(monkeypatch, group_max_rate=GROUP_RATE[0], group_time_period=GROUP_RATE[1])
    group = Group(api, "supergroup")
    asker = api.user(3101, "小王")
    person = Person(api)
    async with start_bot(settings, engine) as app:
        # Each question differs (the same question waiting would be answered together).
        asked = [await api.send_text(group.chat, asker, f"/ask {QUESTIONS[i % len(QUESTIONS)]} {i}")
                 for i in range(GROUP_BURST)]

        def answers() -> list[dict[str, Any]]:  # the group is also told once that it must wait
            return [m for m in group.sent() if "reply_to_message" in m]

        await wait_until(answers, "the first group answer", api)
        started = time.monotonic()
        (answer,) = await person.say(VERDICT)
        waited = time.monotonic() - started
        assert answer["text"] == engine.answer(VERDICT).text
        assert waited < PROMPT_S, f"the private answer took {waited:.1f} s"
        assert len(answers()) < GROUP_BURST  # the group was still being answered
        await wait_until(lambda: len(answers()) >= GROUP_BURST, "every group answer", api,
                         timeout=2 * STEP_TIMEOUT)
        processor = app.update_processor
        assert isinstance(processor, PerChatUpdateProcessor)
        await wait_until(lambda: processor.chats_in_flight == 0, "no chat to be left in flight")
    replied_to = [a["reply_to_message"]["message_id"] for a in answers()]
    assert replied_to == [m["message_id"] for m in asked]


async def test_each_chat_is_answered_in_order(
    api: FakeBotApi, settings: Settings, engine: Engine, start_bot: Callable[..., Any],
) -> None:
    """Several users each send a string of questions at once; sends take a random time; every
    user gets the answers in the order of the questions, and the chats were handled side by side."""
    slow_sends(api)
    people = [Person(api, f"用户{i}") for i in range(4)]
    per_person = 8
    async with start_bot(settings, engine) as app:
        for i in range(per_person):
            for person in people:
                await api.send_text(person.chat, person.user, QUESTIONS[(i + person.id) % len(QUESTIONS)])
        await wait_until(lambda: all(len(p.sent()) >= per_person for p in people), "every answer",
                         api)
        assert app.update_processor.max_concurrent_updates > 1  # not one update at a time
    for person in people:
        expected = [engine.answer(QUESTIONS[(i + person.id) % len(QUESTIONS)]).text
                    for i in range(per_person)]
        assert [m["text"] for m in person.sent()] == expected


async def test_the_processor_runs_chats_side_by_side_and_each_chat_in_turn() -> None:
    """At most max_running at once; a chat's second update starts only after its first ended;
    nothing is left behind per chat."""
    processor = PerChatUpdateProcessor(max_running=2)
    assert MAX_CONCURRENT_UPDATES >= 2
    log: list[tuple[str, int, str]] = []
    running = 0
    most = 0

    async def work(chat: int, n: int, delay: float) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        log.append(("start", chat, str(n)))
        await asyncio.sleep(delay)
        log.append(("end", chat, str(n)))
        running -= 1

    def update(chat_id: int, n: int) -> Update:
        chat = Chat(chat_id, "private")
        message = Message(n, None, chat, from_user=User(chat_id, "x", False))  # type: ignore[arg-type]
        return Update(n, message=message)

    async with processor:
        jobs = [(1, 1, 0.05), (1, 2, 0.0), (2, 3, 0.01), (3, 4, 0.01), (1, 5, 0.0)]
        await asyncio.gather(*(processor.process_update(update(chat, n), work(chat, n, delay))
                               for chat, n, delay in jobs))
    chat_one = [entry for entry in log if entry[1] == 1]
    assert chat_one == [("start", 1, "1"), ("end", 1, "1"), ("start", 1, "2"), ("end", 1, "2"),
                        ("start", 1, "5"), ("end", 1, "5")]
    assert log.index(("start", 2, "3")) < log.index(("end", 1, "1"))  # beside chat 1's first
    assert most == 2
    assert processor.chats_in_flight == 0


async def test_turns_are_per_chat_and_per_user_without_a_chat() -> None:
    """Updates of one chat share a turn; an inline query (no chat) takes its user's turn."""
    user = User(42, "x", False)
    message = Message(1, None, Chat(-100, "supergroup"), from_user=user)  # type: ignore[arg-type]
    assert turn_key(Update(1, message=message)) == ("chat", -100)
    inline = InlineQuery("q", user, "社保", "")
    assert turn_key(Update(2, inline_query=inline)) == ("user", 42)
    assert turn_key(object()) is None


async def test_a_cancelled_update_waiting_for_its_turn_is_closed_quietly() -> None:
    """An update cancelled (at shutdown) while waiting for its chat leaves no un-awaited coroutine."""
    processor = PerChatUpdateProcessor(max_running=1)
    gate = asyncio.Event()

    async def first() -> None:
        await gate.wait()

    async def second() -> None:
        raise AssertionError("must not run")

    chat = Chat(7, "private")
    updates = [Update(i, message=Message(i, None, chat)) for i in (1, 2)]  # type: ignore[arg-type]
    waiting = second()
    one = asyncio.create_task(processor.process_update(updates[0], first()))
    two = asyncio.create_task(processor.process_update(updates[1], waiting))
    await asyncio.sleep(0.01)
    two.cancel()
    gate.set()
    await one
    with pytest.raises(asyncio.CancelledError):
        await two
    assert inspect.getcoroutinestate(waiting) == inspect.CORO_CLOSED
    assert processor.chats_in_flight == 0
