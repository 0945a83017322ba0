"""Where 👍/👎 votes, 都不是 presses and question outcomes go: small interfaces, logging by default."""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)

UP, DOWN, NONE_OF_THESE = "up", "down", "none"  # the kinds of feedback
VOTES = {"+": UP, "-": DOWN}  # the sign in an "fb:<sign>:<entry>" button action


class FeedbackSink(Protocol):
    """Records one piece of feedback; a later store (SQLite) implements the same method."""

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Keep one vote (up/down on an entry) or a 都不是 (none) with the question it was about."""


class LoggingFeedbackSink:
    """The default sink: one log line per piece of feedback (the log filter redacts numbers)."""

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Log the feedback."""
        logger.info("feedback %s entry=%s user=%s chat=%s question=%r",
                    kind, entry_id, user_id, chat_type, text)


class EventSink(Protocol):
    """Records what became of a question (answered, suggested, unanswered, suggestion_chosen).

    bot.analytics.Analytics implements it; it must not block (events are queued and written
    in the background).
    """

    def record_nowait(
        self,
        kind: str,
        *,
        entry_id: str | None = None,
        chosen_entry_id: str | None = None,
        score: float | None = None,
        chat_type: str | None = None,
        user_id: int | None = None,
        question: str = "",
    ) -> None:
        """Queue one event; the question is redacted and the user id anonymised by the store."""
