"""How an engine Reply appears in Telegram: escaped HTML in chunks under 4,096 characters, plus buttons."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import MessageLimit
from telegram.error import BadRequest

from ..engine import Reply
from ..engine.actions import NoneOfThese, Vote, parse

logger = logging.getLogger(__name__)

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # counted on the text after HTML parsing, in UTF-16 units
PARAGRAPH, LINE = "\n\n", "\n"
EMPTY = "…"  # Telegram refuses an empty message
# Where a line too long for one message is best cut: after a sentence or a clause.
_SENTENCE_END = re.compile(r"[。！？；!?;，,、 ]")
_NOT_MODIFIED = "message is not modified"

Piece = tuple[str, str | None]  # plain text and the HTML tag that wraps it (b, i or none)


def visible_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units of the text without markup."""
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str, limit: int) -> list[str]:
    """Cut one line into parts of at most `limit`, at a sentence end when one is near."""
    parts: list[str] = []
    while visible_length(line) > limit:
        end, size = 0, 0
        while end < len(line) and size + visible_length(line[end]) <= limit:
            size += visible_length(line[end])
            end += 1
        breaks = [m.end() for m in _SENTENCE_END.finditer(line, 0, end)]
        if breaks and breaks[-1] > end // 2:
            end = breaks[-1]
        parts.append(line[:end])
        line = line[end:]
    return [*parts, line] if line else parts


def _fit(paragraph: str, limit: int) -> list[str]:
    """A paragraph as parts of at most `limit`, split between lines where possible."""
    if visible_length(paragraph) <= limit:
        return [paragraph]
    parts: list[str] = []
    current = ""
    for line in paragraph.split(LINE):
        for piece in _cut(line, limit):
            joined = f"{current}{LINE}{piece}" if current else piece
            if current and visible_length(joined) > limit:
                parts.append(current)
                current = piece
            else:
                current = joined
    return [*parts, current] if current else parts


def _pieces(reply: Reply) -> list[Piece]:
    """Title, body paragraphs and footer, each with the tag it is shown in."""
    pieces: list[Piece] = [(reply.title, "b")] if reply.title else []
    pieces += [(p, None) for p in reply.body.strip().split(PARAGRAPH) if p.strip()]
    if reply.footer:
        pieces.append((reply.footer, "i"))
    return pieces


def _html(text: str, tag: str | None) -> str:
    escaped = html.escape(text, quote=False)
    return f"<{tag}>{escaped}</{tag}>" if tag else escaped


def render(reply: Reply, limit: int = TEXT_LIMIT) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """HTML chunks (each at most `limit` visible characters) and the keyboard for the last one."""
    chunks: list[list[Piece]] = [[]]
    size = 0
    for text, tag in _pieces(reply):
        for part in _fit(text, limit):
            extra = visible_length(part) + (visible_length(PARAGRAPH) if chunks[-1] else 0)
            if chunks[-1] and size + extra > limit:
                chunks.append([])
                extra, size = visible_length(part), 0
            chunks[-1].append((part, tag))
            size += extra
    html_chunks = [PARAGRAPH.join(_html(t, tag) for t, tag in chunk) for chunk in chunks if chunk]
    return html_chunks or [EMPTY], keyboard(reply)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard; None when it has none."""
    rows = [[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
            for row in reply.buttons if row]
    return InlineKeyboardMarkup(rows) if rows else None


async def send_reply(bot: Bot, chat_id: int, reply: Reply, reply_to: int | None = None) -> list[int]:
    """Send a reply as one or more messages, buttons under the last; returns their ids."""
    chunks, markup = render(reply)
    quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    sent: list[int] = []
    for i, chunk in enumerate(chunks):
        message = await bot.send_message(
            chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None,
            reply_parameters=quote if i == 0 else None,
        )
        sent.append(message.message_id)
    return sent


async def edit_reply(bot: Bot, chat_id: int, message_ids: list[int], reply: Reply) -> list[int]:
    """Show a reply in place of earlier bot messages: edit them, send what does not fit, delete the rest."""
    chunks, markup = render(reply)
    shown: list[int] = []
    for i, chunk in enumerate(chunks):
        buttons = markup if i == len(chunks) - 1 else None
        if i < len(message_ids) and await _edit(bot, chat_id, message_ids[i], chunk, buttons):
            shown.append(message_ids[i])
        else:
            shown.append((await bot.send_message(chat_id, chunk, reply_markup=buttons)).message_id)
    for surplus in message_ids[len(chunks):]:
        try:
            await bot.delete_message(chat_id, surplus)
        except BadRequest as exc:
            logger.debug("cannot delete message %s: %s", surplus, exc)
    return shown


async def _edit(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
) -> bool:
    """Edit one message; False when it cannot be edited (too old, deleted, inaccessible)."""
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except BadRequest as exc:
        if _NOT_MODIFIED in str(exc).lower():
            return True
        logger.info("cannot edit message %s (%s); sending anew", message_id, exc)
        return False
    return True


async def drop_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Remove the keyboard of an earlier bot message, if it still has one."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
    except BadRequest as exc:  # already without buttons, deleted, or too old to edit
        logger.debug("cannot drop buttons of message %s: %s", message_id, exc)


async def drop_button_rows(bot: Bot, message: Message, drop: Callable[[object], bool]) -> None:
    """Remove the rows of a bot message's keyboard holding a button whose data `drop` picks."""
    keyboard = message.reply_markup.inline_keyboard if message.reply_markup else ()
    rows = [row for row in keyboard if not any(drop(b.callback_data) for b in row)]
    if len(rows) == len(keyboard):
        return  # none there (any more)
    try:
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id,
            reply_markup=InlineKeyboardMarkup(rows) if rows else None)
    except BadRequest as exc:  # already without them, or too old to edit
        logger.debug("cannot drop buttons of message %s: %s", message.message_id, exc)


def is_suggestion(message: object) -> bool:
    """Whether a bot message is a "did you mean" reply (the only one with a 都不是 button)."""
    markup = getattr(message, "reply_markup", None)
    keyboard = markup.inline_keyboard if markup is not None else ()
    return any(isinstance(parse(button.callback_data), NoneOfThese)
               for row in keyboard for button in row if isinstance(button.callback_data, str))


def is_vote(data: object) -> bool:
    """Whether button data is a 👍/👎."""
    return isinstance(data, str) and isinstance(parse(data), Vote)
