"""Rules for group chats, without side effects: is the bot addressed, is this a question, is
the answer sure enough to post unasked, where is an earlier answer."""

from __future__ import annotations

import html
import re

from telegram import (
    Chat,
    Message,
    MessageEntity,
    User,
)
from telegram.constants import ChatType
from telegram.ext import filters

from ...engine import Match, Policy, Reply, ReplyKind, sensitive
from ...engine.normalize import compact
from .. import texts
from ..gate import TELEGRAM_SERVICE_ID

GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
# Auto-answer: only messages shaped like a question, long enough to be one, answered only when
# the matcher is sure (a clear top score, well ahead of the runner-up).
QUESTION_CUES = re.compile(
    r"[?？]|吗|呢|怎么|怎样|咋|如何|能不能|能否|可不可以|可以不|行不行|是不是|有没有|要不要|"
    r"哪|啥|什么|多少|几|为何|为什么|请问"
)
MIN_AUTO_QUESTION_CHARS = 5  # compact characters; shorter messages are chatter, not questions
# Posted numbers: these kinds are deleted where the bot may; a phone number is only warned about.
DELETE_KINDS = frozenset({sensitive.ID, sensitive.CARD, sensitive.PASSWORD})
SUPERGROUP_PREFIX = "-100"  # a supergroup's chat id is -100 followed by its internal id
PRIVATE_LINK = "https://t.me/c/{chat}/{message}"  # works for members of a private supergroup
PUBLIC_LINK = "https://t.me/{username}/{message}"
USER_LINK = "tg://user?id={id}"  # an inline mention: notifies the user without a username
MENTION_PUNCTUATION = " \t\n,，:：、"  # left around a question once "@bot" is taken out
ASK_COMMAND = "/ask"


# ----- rules: is the bot addressed, is this a question, is the answer sure, where is it -----


def looks_like_question(text: str) -> bool:
    """Whether a group message is shaped like a question worth an unprompted answer."""
    return len(compact(text)) >= MIN_AUTO_QUESTION_CHARS and QUESTION_CUES.search(text) is not None


def confident(reply: Reply, match: Match | None, policy: Policy) -> bool:
    """Whether a reply is sure enough to post unasked: a clear answer or a table verdict, by the
    engine's one confidence policy (bot/engine/policy.py, `unasked`)."""
    if not reply.answered or not reply.entry_id or match is None or not match.ranking:
        return False
    # A verdict is read from relatives/regions.yaml, not guessed: it needs no lead.
    return policy.unasked(match.ranking, verdict=reply.kind is ReplyKind.CASE)


def message_link(chat: Chat, message_id: int) -> str | None:
    """A t.me link to a message of a supergroup; None for basic groups, where links do not work."""
    if chat.type != ChatType.SUPERGROUP:
        return None
    if chat.username:
        return PUBLIC_LINK.format(username=chat.username, message=message_id)
    return PRIVATE_LINK.format(chat=str(chat.id).removeprefix(SUPERGROUP_PREFIX), message=message_id)


def replied_bot_message(message: Message, bot_id: int) -> bool:
    """Whether the message replies to one of the bot's messages (not a forum topic's opening)."""
    replied = message.reply_to_message
    return (replied is not None and replied.forum_topic_created is None
            and replied.from_user is not None and replied.from_user.id == bot_id)


def message_text(message: Message) -> str:
    """What a message says: its text, or the caption of a photo, video or document."""
    return message.text or message.caption or ""


def without_mention(message: Message, username: str) -> str | None:
    """The text with @username taken out, if the message mentions the bot; otherwise None."""
    wanted = f"@{username}".lower()
    entities = (message.parse_entities([MessageEntity.MENTION]) if message.text is not None
                else message.parse_caption_entities([MessageEntity.MENTION]))
    mentions = [v for v in entities.values() if v.lower() == wanted]
    if not mentions:
        return None
    text = message_text(message)
    for mention in mentions:
        text = text.replace(mention, " ", 1)
    return text.strip(MENTION_PUNCTUATION)


def quoted_question(message: Message) -> Message | None:
    """The other user's message this one replies to, when it can stand for the question."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None or not message_text(replied):
        return None
    if replied.from_user is None or replied.from_user.is_bot:
        return None
    return replied


def addressed(message: Message, username: str, bot_id: int) -> tuple[str, Message] | None:
    """The question put to the bot and the message holding it; None when the bot is not addressed.

    /ask 问题, @bot 问题 and a reply to one of the bot's messages address it; a bare /ask or @bot
    under someone else's message stands for the question in that message.
    """
    text = message_text(message)
    words = text.split(maxsplit=1)
    if words and words[0].lower() in (ASK_COMMAND, f"{ASK_COMMAND}@{username}".lower()):
        question = words[1].strip() if len(words) > 1 else ""
    elif (mentioned := without_mention(message, username)) is not None:
        question = mentioned
    elif replied_bot_message(message, bot_id):
        question = text
    else:
        return None
    if not compact(question) and (quoted := quoted_question(message)) is not None:
        return message_text(quoted), quoted
    return question, message


def user_mention(user: User) -> str:
    """An HTML inline mention of a user, which notifies them."""
    return f'<a href="{USER_LINK.format(id=user.id)}">{html.escape(user.full_name)}</a>'


def sender_name(message: Message) -> str:
    """Who posted a message, as people in the group see it: the user, the channel it was sent as,
    or texts.ANONYMOUS_ADMIN for an anonymous admin (Telegram names that sender "Group")."""
    sender = message.sender_chat
    if sender is not None:
        return texts.ANONYMOUS_ADMIN if sender.id == message.chat.id else (sender.title or texts.ANONYMOUS_ADMIN)
    return message.from_user.full_name if message.from_user is not None else texts.ANONYMOUS_ADMIN


def sender_mention(message: Message) -> str:
    """An HTML mention of who posted a message (a plain name where no user can be notified)."""
    if message.sender_chat is None and message.from_user is not None:
        return user_mention(message.from_user)
    return html.escape(sender_name(message))


class SensitiveText(filters.MessageFilter):
    """Messages whose text or caption holds an ID, card or phone number or a password."""

    def filter(self, message: Message) -> bool:
        """Whether the message text or caption has anything sensitive in it."""
        text = message_text(message)
        return bool(text) and bool(sensitive.find(text))


SENSITIVE = SensitiveText(name="SensitiveText")
MIGRATION = filters.StatusUpdate.MIGRATE
# /ask in the caption of a photo, video or document (CommandHandler reads only message text).
CAPTION_ASK = filters.CaptionRegex(r"(?i)^/ask(?:@\w+)?(?:\s|$)")
# Posts "sent as a channel" by a member (from Channel_Bot, sender_chat a channel): screened for
# numbers like a person's. Posts the linked channel forwards (from 777000, or automatic) are not.
AS_CHANNEL = (filters.SenderChat.CHANNEL & ~filters.IS_AUTOMATIC_FORWARD
              & ~filters.User(TELEGRAM_SERVICE_ID))
