"""The update being handled: when it came in and how it ended, for the update log and /healthz."""

from __future__ import annotations

import contextvars
import dataclasses
import time

from telegram import Update

from .health import ERROR, HANDLED

NO_CHAT = "-"  # the chat type logged for updates without a chat


@dataclasses.dataclass
class UpdateTrace:
    """One update on its way through the handlers: when it came in and how it ended."""

    update: object
    started: float = dataclasses.field(default_factory=time.perf_counter)
    arrived: float | None = None  # when it was handed over, before waiting for its chat's turn
    outcome: str = HANDLED
    error: str | None = None


current: contextvars.ContextVar[UpdateTrace | None] = contextvars.ContextVar(
    "shebao_update_trace", default=None
)


def note_outcome(outcome: str) -> None:
    """Set the outcome of the update being handled (nothing outside one; an error stays an error)."""
    trace = current.get()
    if trace is not None and trace.outcome != ERROR:
        trace.outcome = outcome


def describe(update: object) -> tuple[str, str]:
    """The kind of an update (message, callback_query…) and the type of its chat, for the log."""
    if not isinstance(update, Update):
        return type(update).__name__, NO_CHAT
    kind = next((k for k in Update.ALL_TYPES if getattr(update, k, None) is not None), "empty")
    chat = update.effective_chat
    return kind, str(chat.type) if chat is not None else NO_CHAT
