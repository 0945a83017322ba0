"""Updates of different chats handled side by side, each chat's updates one at a time, in order
(a group's urgent ones at once)."""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseUpdateProcessor

from ..engine import sensitive

# Updates handled at the same time, each of a different chat (a chat's own updates are handled
# one at a time, in order). Most of that time is spent waiting for Telegram's answers.
MAX_CONCURRENT_UPDATES = 32
GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
SETTINGS_COMMAND = "/settings"


def turn_key(update: object) -> tuple[str, int] | None:
    """Whose turn an update waits for: its chat's; the user's for inline queries (no chat)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


def urgent(update: object) -> bool:
    """Whether a group's update must not wait behind the answers queued in that group (Telegram
    lets a group have 20 messages a minute): a button press, the bot's own membership changing,
    /settings, a message holding a number to delete. It runs at once, beside the queue.

    Private chats keep strict order (a press and a typed answer change the same dialogue), and
    their queue is short.
    """
    if not isinstance(update, Update) or update.effective_chat is None:
        return False
    if update.effective_chat.type not in GROUP_TYPES:
        return False
    if update.callback_query is not None or update.my_chat_member is not None:
        return True
    message = update.message or update.edited_message
    if message is None:
        return False
    text = message.text or message.caption or ""
    return text.startswith(SETTINGS_COMMAND) or bool(sensitive.find(text))


class _Turns:
    """The lock one chat's updates take in turn, how many of them hold or wait for it, and
    those that wait."""

    __slots__ = ("lock", "updates", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.updates = 0
        self.waiting: list[object] = []


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Handles updates of different chats concurrently, each chat's updates strictly in order.

    PTB hands each update over as soon as it is fetched, in order (an update with no chat is
    taken per user). Here it waits for the chat's earlier updates (a lock per chat: asyncio locks
    are first come, first served), then for one of `max_running` slots. The limit PTB itself
    enforces before this is left unbounded on purpose: an update waiting for its chat's turn must
    not hold a slot another chat's update could use, or a burst in one group would stall the rest.
    A chat's lock exists only while one of its updates is being handled or waiting.

    A group's urgent update (see urgent(): a press, a posted number…) does not wait for its turn.
    The updates waiting are visible (waiting(): same questions are answered together) and can be
    abandoned at a shutdown (abandon(): the update journal keeps them for the next start).
    """

    def __init__(self, max_running: int = MAX_CONCURRENT_UPDATES) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        super().__init__(sys.maxsize)
        self.max_running = max_running
        self._running = asyncio.Semaphore(max_running)
        self._turns: dict[tuple[str, int], _Turns] = {}
        self._arrived: dict[int, float] = {}  # id(update): when it was handed over (perf_counter)
        self._tasks: dict[int, tuple[asyncio.Task[Any], bool]] = {}  # id(update): task, started

    def arrival(self, update: object) -> float | None:
        """When an update being handled was handed over, before it waited for its turn."""
        return self._arrived.get(id(update))

    @property
    def chats_in_flight(self) -> int:
        """How many chats (or users) have an update being handled or waiting right now."""
        return len(self._turns)

    def waiting(self, chat_id: int) -> list[object]:
        """The updates of a chat waiting for their turn, oldest first (not the one being handled)."""
        turns = self._turns.get(("chat", chat_id))
        return list(turns.waiting) if turns is not None else []

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update after the earlier ones of its chat, within the concurrency limit
        (an urgent one at once)."""
        self._arrived[id(update)] = time.perf_counter()
        task = asyncio.current_task()
        if task is not None:
            self._tasks[id(update)] = (task, False)
        key = None if urgent(update) else turn_key(update)
        turns = None
        if key is not None:
            turns = self._turns.get(key)
            if turns is None:
                turns = self._turns[key] = _Turns()
            turns.updates += 1
            turns.waiting.append(update)
        try:
            if turns is None:  # urgent, or no chat to wait for
                self._started(update)
                await coroutine
            else:
                async with turns.lock, self._running:
                    turns.waiting.remove(update)
                    self._started(update)
                    await coroutine
        finally:
            self._arrived.pop(id(update), None)
            self._tasks.pop(id(update), None)
            if key is not None and turns is not None:
                if update in turns.waiting:
                    turns.waiting.remove(update)
                turns.updates -= 1
                if not turns.updates:
                    del self._turns[key]
            if inspect.iscoroutine(coroutine) and (
                    inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED):
                coroutine.close()  # cancelled (at shutdown) before its turn came

    def _started(self, update: object) -> None:
        held = self._tasks.get(id(update))
        if held is not None:
            self._tasks[id(update)] = (held[0], True)

    @property
    def in_flight(self) -> tuple[int, int]:
        """(updates being handled, updates waiting for their chat's turn)."""
        started = sum(1 for _, began in self._tasks.values() if began)
        return started, len(self._tasks) - started

    def abandon(self, started: bool = False) -> int:
        """Cancel the updates still waiting for their turn (with `started`, those being handled
        too): for a shutdown that must not wait for a group's backlog (the update journal keeps
        them for the next start). Returns how many were cancelled."""
        cancelled = 0
        for task, began in list(self._tasks.values()):
            if (started or not began) and not task.done():
                task.cancel()
                cancelled += 1
        return cancelled

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB waits for the updates in flight before it shuts down."""
