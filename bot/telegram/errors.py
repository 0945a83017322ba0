"""The global error handler: log the update and the traceback, and tell the user something went wrong."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError

from ..engine import Reply, ReplyKind
from ..engine import messages as msg
from .memory import Context
from .render import send_reply

logger = logging.getLogger(__name__)


MAX_REPR_CHARS = 200  # what is not an update is logged as its repr, cut to this length


def describe(update: object) -> str:
    """An update for the log: its id, type and chat, and how long its text is; no names, no text."""
    if not isinstance(update, Update):
        return repr(update)[:MAX_REPR_CHARS]
    kind = next((name for name in Update.ALL_TYPES if getattr(update, name, None) is not None),
                "unknown")
    chat = update.effective_chat
    where = f"{chat.type}:{chat.id}" if chat is not None else "-"
    message = update.effective_message
    chars = len((message.text or message.caption or "") if message is not None else "")
    return f"update_id={update.update_id} type={kind} chat={where} text_chars={chars}"


async def on_error(update: object, context: Context) -> None:
    """Log an error raised by a handler or job, then apologise to the user instead of going silent."""
    logger.error("error while handling update %s", describe(update), exc_info=context.error)
    if not isinstance(update, Update):
        return
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):  # it may have been answered before the error
            await update.callback_query.answer()
    if update.effective_chat is None:
        return
    try:
        await send_reply(context.bot, update.effective_chat.id, Reply(msg.ERROR, kind=ReplyKind.NONE))
    except TelegramError as exc:  # blocked by the user, chat gone, Telegram down
        logger.warning("could not tell chat %s about the error: %s", update.effective_chat.id, exc)
