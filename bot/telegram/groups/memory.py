"""What a group's chat_data holds beside the answered questions: settings, askers, recent answers."""

from __future__ import annotations

import time
from typing import Any

from telegram import (
    Message,
)

from ...engine import ReplyKind
from ..private import is_suggestion

# chat_data keys (PicklePersistence keeps them across restarts).
SETTINGS_KEY = "group_settings"  # {"auto_answer": bool}
AUTO_ANSWER = "auto_answer"
ANSWERED_KEY = "answered"  # {entry id: [unix time, id of the bot message that answered it]}
ASKERS_KEY = "askers"  # {bot message id: [user id it answered, reply kind]}
ASKER_MEMORY = 200  # bot messages per group whose asker is remembered




def auto_answer_on(chat_data: dict[str, Any] | None) -> bool:
    """Whether the group's admins turned auto-answer on (it is off by default)."""
    return bool((chat_data or {}).get(SETTINGS_KEY, {}).get(AUTO_ANSWER, False))


def note_asker(chat_data: dict[str, Any], bot_message_id: int, user_id: int, kind: str) -> None:
    """Remember whom a bot message answers, so that only they change it with its buttons."""
    askers = chat_data.setdefault(ASKERS_KEY, {})
    askers[bot_message_id] = [user_id, kind]
    while len(askers) > ASKER_MEMORY:
        del askers[next(iter(askers))]


def asker_of(chat_data: dict[str, Any], message: Message) -> tuple[int | None, str]:
    """Who a bot message answers and its kind; falls back to the message it quotes and its buttons."""
    noted = chat_data.get(ASKERS_KEY, {}).get(message.message_id)
    if noted is not None:
        return int(noted[0]), str(noted[1])
    kind = ReplyKind.SUGGEST if is_suggestion(message) else ""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
        return replied.from_user.id, kind
    return None, kind


def note_answered(chat_data: dict[str, Any], entry_id: str, bot_message_id: int, cooldown: float) -> None:
    """Remember when an entry was answered in the group, forgetting answers past the cooldown."""
    now = time.time()
    answered = {k: v for k, v in chat_data.get(ANSWERED_KEY, {}).items() if now - v[0] < cooldown}
    answered[entry_id] = [now, bot_message_id]
    chat_data[ANSWERED_KEY] = answered


def recent_answer(chat_data: dict[str, Any], entry_id: str, cooldown: float) -> int | None:
    """The bot message that answered the entry within the cooldown, if any."""
    noted = chat_data.get(ANSWERED_KEY, {}).get(entry_id)
    if noted is None or time.time() - noted[0] >= cooldown:
        return None
    return int(noted[1])
