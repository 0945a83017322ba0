"""The gate before every handler: updates from people in chats the bot serves go on, the rest
is logged and skipped; and the filters the handlers share."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, filters

from .health import SKIPPED
from .memory import Context
from .tracing import note_outcome

logger = logging.getLogger(__name__)

NEW_MESSAGES = filters.UpdateType.MESSAGE  # not edits, not channel posts
EDITS = filters.UpdateType.EDITED_MESSAGE
PRIVATE = filters.ChatType.PRIVATE
GROUPS = filters.ChatType.GROUPS
HANDLED_UPDATES = ("message", "edited_message", "callback_query", "inline_query")
CHATLESS_UPDATES = frozenset({"inline_query"})  # typed in any chat; Telegram does not say which
TELEGRAM_SERVICE_ID = 777000  # "Telegram": the sender of posts a linked channel forwards to its group


def from_person(update: Update) -> bool:
    """Whether a person sent the update: a user who is no bot, or a group's anonymous admin.

    A channel post Telegram forwards into the channel's discussion group is nobody's message.
    """
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if message is not None and message.is_automatic_forward:
        return False
    if user is not None and user.id == TELEGRAM_SERVICE_ID:
        return False
    if user is not None and not user.is_bot:
        return True
    # An anonymous admin writes as the group itself (Telegram shows @GroupAnonymousBot as sender).
    return (message is not None and chat is not None and message.sender_chat is not None
            and message.sender_chat.id == chat.id)


async def screen(update: Update, context: Context) -> None:
    """Log and skip updates the bot has nothing to do with, before any other handler sees them."""
    kind = next((k for k in HANDLED_UPDATES if getattr(update, k) is not None), None)
    chat = update.effective_chat
    if kind is not None and from_person(update) and (chat is not None or kind in CHATLESS_UPDATES):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()  # every query gets an answer, even one we skip
    fields = sorted(set(update.to_dict()) - {"update_id"})
    logger.info("skipping update %s (%s)", update.update_id, ", ".join(fields) or "empty")
    note_outcome(SKIPPED)
    raise ApplicationHandlerStop
