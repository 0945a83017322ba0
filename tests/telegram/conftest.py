"""Shared fixtures: the fake Bot API, the bot on a temporary data dir, and a user who chats with it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.engine import Engine
from bot.engine.matcher import Match, Matcher
from bot.settings import Settings
from bot.telegram import build_application
from bot.telegram.ops import OpsApplication, serve
from bot.telegram.processor import PerChatUpdateProcessor
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

STEP_TIMEOUT = 5.0  # seconds any one wait may take before the test fails
POLL_TIMEOUT = 1  # seconds of each long poll, so that stopping is quick
POLL_MIN, POLL_MAX = 0.001, 0.01  # seconds between two checks of a condition waited for
QUIET_PERIOD = 0.05  # seconds to wait, once the bot is idle (settled), to see that nothing follows

JsonDict = dict[str, Any]


@dataclasses.dataclass
class Recorded:
    """A FeedbackSink that keeps what it is given."""

    items: list[tuple[str, str | None, int | None, str | None, str]] = dataclasses.field(
        default_factory=list
    )

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Keep one piece of feedback."""
        self.items.append((kind, entry_id, user_id, chat_type, text))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that talks to the fake Bot API server runs the bot end to end: it is slow."""
    for item in items:
        if "api" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def settings(api: FakeBotApi, tmp_path: Path) -> Settings:
    """Settings pointing at the fake, with a temporary data directory."""
    return Settings(
        telegram_bot_token=DEFAULT_TOKEN,
        telegram_base_url=api.base_url,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def feedback() -> Recorded:
    """A feedback sink the test can read."""
    return Recorded()


@asynccontextmanager
async def running(
    settings: Settings, engine: Engine, feedback: Recorded | None = None, **kwargs: Any
) -> AsyncIterator[OpsApplication]:
    """The bot as `python -m bot run` runs it (ops.serve), polling the fake until the block ends."""
    app = build_application(settings, engine, feedback, **kwargs)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, poll_timeout=POLL_TIMEOUT))
    RUNNING.append(app)
    try:
        await wait_until(lambda: app.ops.health.ready or task.done(), "the bot to be ready")
        if task.done():
            task.result()  # raises what stopped it
        yield app
    finally:
        RUNNING.remove(app)
        stop.set()
        async with asyncio.timeout(STEP_TIMEOUT):
            await task


@pytest.fixture
def start_bot() -> Callable[..., Any]:
    """running(settings, engine, feedback=None): an async context manager with the bot polling."""
    return running


@pytest_asyncio.fixture
async def bot(settings: Settings, engine: Engine, feedback: Recorded) -> AsyncIterator[OpsApplication]:
    """The bot, running against the fake for the length of one test."""
    async with running(settings, engine, feedback) as app:
        yield app


RUNNING: list[OpsApplication] = []  # the bots running() runs in this process right now


def idle(api: FakeBotApi) -> bool:
    """Whether every update queued at the fake was fetched and the bots running in this process
    have none queued or being handled (of a bot in another process only the first is known)."""
    if api.pending_updates:
        return False
    for app in RUNNING:
        processor = app.update_processor
        if not app.update_queue.empty() or (
                isinstance(processor, PerChatUpdateProcessor) and processor.in_flight != (0, 0)):
            return False
    return True


async def settled(api: FakeBotApi) -> None:
    """Wait until the bot is idle (see idle()) at two polls in a row: an update taken off the
    queue is in flight by the next turn of the event loop."""
    streak = 0

    def twice() -> bool:
        nonlocal streak
        streak = streak + 1 if idle(api) else 0
        return streak >= 2

    await wait_until(twice, "the bot to handle every update", api)


async def quiet_moment(api: FakeBotApi) -> None:
    """Wait until the bot has handled every update, then a moment more, so that a check that it
    did nothing more can follow."""
    await settled(api)
    await asyncio.sleep(QUIET_PERIOD)


async def wait_until(check: Callable[[], Any], what: str, api: FakeBotApi | None = None,
                     timeout: float = STEP_TIMEOUT) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`. Polled
    every POLL_MIN seconds at first (a reply through the fake takes a few milliseconds), then
    less and less often, up to every POLL_MAX seconds."""
    deadline = time.monotonic() + timeout
    pause = POLL_MIN
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = ", ".join(c.method for c in api.calls[-15:]) if api else ""
            raise AssertionError(f"timed out waiting for {what}; last calls: {seen}")
        await asyncio.sleep(pause)
        pause = min(1.25 * pause, POLL_MAX)


@dataclasses.dataclass
class Pressed:
    """What came of pressing a button: the query's answer, new messages and the message after."""

    answer: JsonDict
    sent: list[JsonDict]
    message: JsonDict


_user_ids = itertools.count(2001)


class Person:
    """A user in a private chat with the bot, talking to it through the fake Bot API."""

    def __init__(self, api: FakeBotApi, name: str = "小王") -> None:
        self.api = api
        self.user = api.user(next(_user_ids), name)
        self.chat = api.private_chat(self.user)
        self.id = int(self.user["id"])
        self.last_sent: JsonDict = {}

    @staticmethod
    def buttons(message: JsonDict) -> list[JsonDict]:
        """The inline buttons of a message, in reading order."""
        return [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]

    @classmethod
    def labels(cls, message: JsonDict) -> list[str]:
        """The labels of a message's inline buttons."""
        return [b["text"] for b in cls.buttons(message)]

    @classmethod
    def data_of(cls, message: JsonDict, label: str) -> str:
        """The callback data of the button labelled `label` (or, failing that, containing it)."""
        found = [b for b in cls.buttons(message) if b["text"] == label] or [
            b for b in cls.buttons(message) if label in b["text"]
        ]
        if not found:
            raise AssertionError(f"no button {label!r} in {cls.labels(message)}")
        return str(found[0]["callback_data"])

    def sent(self) -> list[JsonDict]:
        """Every message the bot sent to this user, as first sent."""
        return self.api.sent_messages(self.id)

    def current(self, message: JsonDict) -> JsonDict:
        """A bot message as it is now, after edits."""
        now = self.api.message(self.id, int(message["message_id"]))
        assert now is not None, f"message {message['message_id']} is gone"
        return now

    async def _await_new(self, before: int, count: int, what: str,
                         timeout: float = STEP_TIMEOUT) -> list[JsonDict]:
        await wait_until(lambda: len(self.sent()) >= before + count, what, self.api, timeout)
        return self.sent()[before:]

    async def messages_after(self, before: int, count: int = 1) -> list[JsonDict]:
        """Wait until the bot has sent `count` messages after its first `before`; return them."""
        return await self._await_new(before, count, f"{count} message(s) after the first {before}")

    async def say(self, text: str, replies: int = 1,
                  timeout: float = STEP_TIMEOUT) -> list[JsonDict]:
        """Send `text` and wait (up to `timeout`) for `replies` new bot messages, returned."""
        before = len(self.sent())
        self.last_sent = await self.api.send_text(self.chat, self.user, text)
        return await self._await_new(before, replies, f"{replies} repl(ies) to {text!r}", timeout)

    async def raw(self, update: JsonDict, replies: int = 0) -> list[JsonDict]:
        """Inject a hand-made update, wait until it was fetched, then for `replies` bot messages.

        It is delivered once and fetched alone: python-telegram-bot drops a whole batch of
        updates when one of them cannot be parsed.
        """
        before = len(self.sent())
        injected = await self.api.raw_update(update, once=True)
        await wait_until(lambda: all(u["update_id"] != injected["update_id"]
                                     for u in self.api.pending_updates),
                         "the raw update to be fetched", self.api)
        return await self._await_new(before, replies, f"{replies} repl(ies) to a raw update")

    async def edit(self, message: JsonDict, text: str) -> JsonDict:
        """Edit one of the user's messages and wait until the bot edited a message."""
        mark = len(self.api.calls_of("editMessageText"))
        edited = await self.api.edit_text(message, text)
        await wait_until(lambda: len(self.api.calls_of("editMessageText")) > mark,
                         "an edit after the user's edit", self.api)
        return edited

    async def press(self, message: JsonDict, label: str, *, edits: int = 1, sends: int = 0,
                    data: str | None = None, force: bool = False) -> Pressed:
        """Press a button (by label, or raw `data`) and wait for the answer, edits and messages."""
        callback = data if data is not None else self.data_of(self.current(message), label)
        before = len(self.sent())
        mark = len(self.api.calls)
        query = await self.api.press(self.current(message) if not force else message,
                                     callback, self.user, force=force)

        def done() -> JsonDict | None:
            calls = self.api.calls[mark:]
            answers = [c for c in calls if c.method == "answerCallbackQuery"
                       and c.params.get("callback_query_id") == query["id"]]
            edited = [c for c in calls if c.method == "editMessageText"]
            if answers and len(edited) >= edits and len(self.sent()) >= before + sends:
                return answers[0].params
            return None

        answer = await wait_until(done, f"answer, {edits} edit(s), {sends} message(s) after "
                                  f"pressing {callback!r}", self.api)
        return Pressed(answer, self.sent()[before:], self.current(message))

    async def quiet(self) -> None:
        """Check that the bot, once it handled every update, sends nothing more for a moment."""
        before = len(self.sent())
        await quiet_moment(self.api)
        assert self.sent()[before:] == []


@pytest.fixture
def person(api: FakeBotApi) -> Person:
    """A user with a private chat."""
    return Person(api)


@pytest.fixture
def matcher_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The questions Matcher.match is asked during a test, in order (it still answers them)."""
    calls: list[str] = []
    real = Matcher.match

    def counted(self: Matcher, question: str, prepared: str | None = None,
                evidence: bool = True, demoted: frozenset[str] = frozenset()) -> Match:
        calls.append(question)
        return real(self, question, prepared, evidence, demoted)

    monkeypatch.setattr(Matcher, "match", counted)
    return calls
