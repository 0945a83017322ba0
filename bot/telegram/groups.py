"""Group chats: when the bot is addressed, auto-answers with a cooldown, /settings, posted numbers, buttons."""

from __future__ import annotations

import html
import logging
import re
import time
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, filters
from telegram.helpers import create_deep_linked_url

from ..analytics import MAX_QUESTION_CHARS, Feedback
from ..conversation import Conversation, Pressed, Who, screen
from ..engine import Engine, Match, Reply, ReplyKind, sensitive
from ..engine import messages as msg
from ..engine.actions import AutoAnswer, ShowEntry, ShowTopic, Vote, encode, parse
from ..engine.normalize import compact
from . import texts
from .memory import ChatData, Context
from .private import DEEP_LINK, is_suggestion, is_vote
from .render import drop_button_rows, edit_reply, send_reply

logger = logging.getLogger(__name__)

GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
# Auto-answer: only messages shaped like a question, long enough to be one, answered only when
# the matcher is sure (a clear top score, well ahead of the runner-up).
QUESTION_CUES = re.compile(
    r"[?？]|吗|呢|怎么|怎样|咋|如何|能不能|能否|可不可以|可以不|行不行|是不是|有没有|要不要|"
    r"哪|啥|什么|多少|几|为何|为什么|请问"
)
MIN_AUTO_QUESTION_CHARS = 5  # compact characters; shorter messages are chatter, not questions
# The matcher's top score an unprompted answer needs: well above Thresholds.answer (0.26), where
# an asked question is answered, though below Thresholds.sure (0.55), since the margin is checked too.
AUTO_MIN_SCORE = 0.45
AUTO_MIN_MARGIN = 0.08  # and how far ahead of the runner-up it must be (verdicts excepted)
# Posted numbers: these kinds are deleted where the bot may; a phone number is only warned about.
DELETE_KINDS = frozenset({sensitive.ID, sensitive.CARD, sensitive.PASSWORD})
MEMBER_CACHE_SECONDS = 60.0  # how long a getChatMember answer (admin or not) is trusted
MEMBER_CACHE_SIZE = 1000  # expired answers are dropped once the cache holds this many
# chat_data keys (PicklePersistence keeps them across restarts).
SETTINGS_KEY = "group_settings"  # {"auto_answer": bool}
AUTO_ANSWER = "auto_answer"
ANSWERED_KEY = "answered"  # {entry id: [unix time, id of the bot message that answered it]}
ASKERS_KEY = "askers"  # {bot message id: [user id it answered, reply kind]}
ASKER_MEMORY = 200  # bot messages per group whose asker is remembered
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


def confident(reply: Reply, match: Match | None) -> bool:
    """Whether a reply is sure enough to post unasked: a clear answer or a table verdict."""
    if not reply.answered or not reply.entry_id or match is None or not match.ranking:
        return False
    top = match.ranking[0][1]
    runner_up = match.ranking[1][1] if len(match.ranking) > 1 else 0.0
    if reply.kind is ReplyKind.CASE:  # the verdict is read from relatives/regions.yaml, not guessed
        return top >= AUTO_MIN_SCORE
    return top >= AUTO_MIN_SCORE and top - runner_up >= AUTO_MIN_MARGIN


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


def without_mention(message: Message, username: str) -> str | None:
    """The text with @username taken out, if the message mentions the bot; otherwise None."""
    wanted = f"@{username}".lower()
    mentions = [v for v in message.parse_entities([MessageEntity.MENTION]).values()
                if v.lower() == wanted]
    if not mentions:
        return None
    text = message.text or ""
    for mention in mentions:
        text = text.replace(mention, " ", 1)
    return text.strip(MENTION_PUNCTUATION)


def quoted_question(message: Message) -> Message | None:
    """The other user's message this one replies to, when it can stand for the question."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None or not replied.text:
        return None
    if replied.from_user is None or replied.from_user.is_bot:
        return None
    return replied


def addressed(message: Message, username: str, bot_id: int) -> tuple[str, Message] | None:
    """The question put to the bot and the message holding it; None when the bot is not addressed.

    /ask 问题, @bot 问题 and a reply to one of the bot's messages address it; a bare /ask or @bot
    under someone else's message stands for the question in that message.
    """
    text = message.text or ""
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
        return quoted.text or "", quoted
    return question, message


def user_mention(user: User) -> str:
    """An HTML inline mention of a user, which notifies them."""
    return f'<a href="{USER_LINK.format(id=user.id)}">{html.escape(user.full_name)}</a>'


class SensitiveText(filters.MessageFilter):
    """Messages whose text holds an ID, card or phone number or a password."""

    def filter(self, message: Message) -> bool:
        """Whether the message text has anything sensitive in it."""
        return bool(message.text) and bool(sensitive.find(message.text or ""))


SENSITIVE = SensitiveText(name="SensitiveText")
MIGRATION = filters.StatusUpdate.MIGRATE


class GroupButtons(CallbackQueryHandler):
    """A CallbackQueryHandler for buttons pressed in group chats only."""

    def check_update(self, update: object) -> bool | object | None:
        """Accept the query only when it was pressed in a group or supergroup."""
        if not isinstance(update, Update) or update.effective_chat is None:
            return None
        if update.effective_chat.type not in GROUP_TYPES:
            return None
        return super().check_update(update)


class MemberCache:
    """getChatMember answers, kept briefly: who is an admin, and what the bot itself may do."""

    def __init__(self, ttl: float = MEMBER_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[int, int], tuple[float, ChatMember | None]] = {}

    async def get(self, bot: Bot, chat_id: int, user_id: int) -> ChatMember | None:
        """The user's membership in the chat, from the cache or Telegram; None if unknown."""
        now = time.monotonic()
        cached = self._seen.get((chat_id, user_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            member: ChatMember | None = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            logger.warning("getChatMember %s in %s failed: %s", user_id, chat_id, exc)
            member = None
        if len(self._seen) >= MEMBER_CACHE_SIZE:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
        self._seen[(chat_id, user_id)] = (now + self.ttl, member)
        return member

    def forget(self, chat_id: int, user_id: int) -> None:
        """Drop one answer, e.g. after Telegram refused what it allowed."""
        self._seen.pop((chat_id, user_id), None)

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Whether the user owns or administers the chat."""
        member = await self.get(bot, chat_id, user_id)
        return member is not None and member.status in (
            ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR
        )

    async def can_delete(self, bot: Bot, chat_id: int) -> bool:
        """Whether the bot may delete other people's messages in the chat."""
        member = await self.get(bot, chat_id, bot.id)
        if member is None:
            return False
        if member.status == ChatMemberStatus.OWNER:
            return True
        return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
            getattr(member, "can_delete_messages", False)
        )


# ----- per-group memory in chat_data -----


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


class GroupChats:
    """Everything the bot does in groups: answers when addressed, auto-answers, settings, numbers."""

    def __init__(self, conversation: Conversation, cooldown: float,
                 members: MemberCache | None = None) -> None:
        self.conversation = conversation  # answers, analytics and feedback, as in private chats
        self.cooldown = cooldown
        self.members = members or MemberCache()

    @property
    def engine(self) -> Engine:
        """The engine in service (a reload swaps it between two updates)."""
        return self.conversation.engine

    @staticmethod
    def who(update: Update) -> Who:
        """The user and the group's type, as analytics records them."""
        user, chat = update.effective_user, update.effective_chat
        return Who(user.id if user else None, chat.type if chat else "group")

    @staticmethod
    def chat_data(context: Context) -> ChatData:
        """The group's memory (a throwaway one where PTB keeps none)."""
        return context.chat_data if context.chat_data is not None else ChatData()

    # ----- sending -----

    async def _post(
        self, context: Context, chat: Chat, reply: Reply, reply_to: int,
        asker: int, question: str | None = None,
    ) -> list[int]:
        """Send a reply quoting `reply_to`, and remember its asker, question and entry."""
        sent = await send_reply(context.bot, chat.id, reply, reply_to=reply_to)
        chat_data = context.chat_data
        if chat_data is not None:
            note_asker(chat_data, sent[-1], asker, reply.kind)
            if question is not None:
                chat_data.remember(reply_to, sent, question)
            if reply.entry_id and reply.answered:
                note_answered(chat_data, reply.entry_id, sent[0], self.cooldown)
        return sent

    async def _answer(self, update: Update, context: Context, target: Message,
                      question: str) -> None:
        """Answer a question put to the bot, quoting the message it is in."""
        chat = target.chat
        question = question[:MAX_QUESTION_CHARS]
        reply, _ = self.conversation.answer(self.who(update), question)
        asker = target.from_user.id if target.from_user else 0
        await self._post(context, chat, reply, target.message_id, asker, question)

    async def _say(self, context: Context, message: Message, text: str,
                   kind: ReplyKind = ReplyKind.MENU) -> None:
        await send_reply(context.bot, message.chat.id, Reply(text, kind=kind),
                         reply_to=message.message_id)

    # ----- messages addressed to the bot -----

    async def ask(self, update: Update, context: Context) -> None:
        """/ask 问题, or /ask replying to someone's question."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        question, target = addressed(message, context.bot.username, context.bot.id) or ("", message)
        if not compact(question):
            await self._say(context, message, texts.ASK_HINT)
        else:
            await self._answer(update, context, target, question)

    async def text(self, update: Update, context: Context) -> None:
        """A group message: answered when it mentions or replies to the bot, else maybe auto-answered."""
        message = update.effective_message
        assert message is not None
        found = addressed(message, context.bot.username, context.bot.id)
        if found is None:
            if auto_answer_on(context.chat_data):
                await self.auto_answer(update, context)
        elif not compact(found[0]):
            await self._say(context, message, texts.GROUP_HELP)
        else:
            await self._answer(update, context, found[1], found[0])

    async def auto_answer(self, update: Update, context: Context) -> None:
        """An unaddressed message: answered only if it is a question the bot is sure about."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        text = (message.text or "")[:MAX_QUESTION_CHARS]
        if not looks_like_question(text):
            return
        reply, match = self.conversation.dialogues.answer(text)
        if not confident(reply, match):
            logger.debug("group %s: not sure enough to answer %r unasked (%s)", chat.id, text, reply.kind)
            return
        assert reply.entry_id is not None
        self.conversation.record_question(self.who(update), reply, text)
        earlier = recent_answer(context.chat_data or {}, reply.entry_id, self.cooldown)
        if earlier is not None:
            await self.point_to(context, message, earlier)
            return
        logger.info("group %s: auto-answering %r with %s (%.2f)", chat.id, text, reply.entry_id, reply.score)
        await self._post(context, chat, reply, message.message_id, user.id, text)

    async def point_to(self, context: Context, message: Message, earlier: int) -> None:
        """上面刚回答过: a link to the earlier answer, or in a basic group a reply to it."""
        link = message_link(message.chat, earlier)
        if link is not None:
            body = (f"{html.escape(texts.RECENTLY_ANSWERED)}"
                    f'<a href="{html.escape(link)}">{html.escape(texts.SEE_EARLIER_ANSWER)}</a>')
            quote = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        else:
            asker = f"{user_mention(message.from_user)} " if message.from_user else ""
            body = f"{asker}{html.escape(texts.RECENTLY_ANSWERED_HERE)}"
            quote = ReplyParameters(earlier, allow_sending_without_reply=True)
        await context.bot.send_message(message.chat.id, body, reply_parameters=quote)

    # ----- commands -----

    async def topics(self, update: Update, context: Context) -> None:
        """/faq or /topics in a group: the topic menu, quoting the asker."""
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        await self._post(context, message.chat, self.engine.topics(), message.message_id, user.id)

    async def help(self, update: Update, context: Context) -> None:
        """/help or /start in a group: how to ask in a group."""
        assert update.effective_message is not None
        await self._say(context, update.effective_message, texts.GROUP_HELP)

    async def bind(self, update: Update, context: Context) -> None:
        """/bind in a group: dialogues run in private, so a button that opens one there."""
        message = update.effective_message
        assert message is not None
        url = create_deep_linked_url(context.bot.username, DEEP_LINK)
        button = InlineKeyboardButton(msg.GROUP_BIND_BUTTON, url=url)
        await context.bot.send_message(
            message.chat.id, html.escape(msg.GROUP_BIND),
            reply_markup=InlineKeyboardMarkup.from_button(button),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )

    async def settings(self, update: Update, context: Context) -> None:
        """/settings: the group's settings with buttons, for its admins only."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        if chat.type not in GROUP_TYPES:
            await self._say(context, message, texts.SETTINGS_GROUP_ONLY)
            return
        anonymous_admin = message.sender_chat is not None and message.sender_chat.id == chat.id
        if not anonymous_admin and not await self.members.is_admin(context.bot, chat.id, user.id):
            await self._say(context, message, texts.SETTINGS_ADMIN_ONLY)
            return
        body, markup = await self._settings_menu(context, chat)
        await context.bot.send_message(
            chat.id, body, reply_markup=markup,
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )

    async def _settings_menu(self, context: Context,
                             chat: Chat) -> tuple[str, InlineKeyboardMarkup]:
        on = auto_answer_on(context.chat_data)
        sees_all = context.bot.can_read_all_group_messages or await self.members.is_admin(
            context.bot, chat.id, context.bot.id)
        lines = [
            f"<b>{html.escape(texts.SETTINGS_TITLE)}</b>",
            html.escape(texts.AUTO_ANSWER_STATE.format(
                state=texts.AUTO_ANSWER_ON if on else texts.AUTO_ANSWER_OFF)),
            html.escape(texts.AUTO_ANSWER_EXPLAINED.format(minutes=round(self.cooldown / 60))),
            html.escape(texts.SEES_ALL_MESSAGES if sees_all else texts.SEES_COMMANDS_ONLY),
        ]
        button = InlineKeyboardButton(texts.TURN_OFF if on else texts.TURN_ON,
                                      callback_data=encode(AutoAnswer(not on)))
        return "\n\n".join(lines), InlineKeyboardMarkup.from_button(button)

    async def migrate(self, update: Update, context: Context) -> None:
        """A group became a supergroup: its settings and memory move to the new chat id."""
        message = update.effective_message
        if message is not None and message.migrate_to_chat_id is not None:
            logger.info("group %s migrated to %s", message.chat.id, message.migrate_to_chat_id)
            context.application.migrate_chat_data(message=message)

    # ----- posted numbers -----

    async def sensitive(self, update: Update, context: Context) -> None:
        """An ID, card or phone number or a password: warn, delete where allowed, answer the rest."""
        await self._screen_numbers(update, context)
        message = update.effective_message
        assert message is not None
        found = addressed(message, context.bot.username, context.bot.id)
        if found is None:
            return
        _, rest = screen(found[0])
        if rest is not None:
            await self._answer(update, context, found[1], rest)

    async def sensitive_edit(self, update: Update, context: Context) -> None:
        """A message edited to hold a number: warned about and deleted like a new one."""
        await self._screen_numbers(update, context)

    async def _screen_numbers(self, update: Update, context: Context) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        findings = sensitive.find(message.text or "")
        what = sensitive.describe(findings)
        deleted = False
        if any(f.kind in DELETE_KINDS for f in findings) and await self.members.can_delete(
                context.bot, chat.id):
            try:
                deleted = await context.bot.delete_message(chat.id, message.message_id)
            except BadRequest as exc:  # too old, already gone, or the right was just taken away
                logger.info("cannot delete message %s in %s: %s", message.message_id, chat.id, exc)
                self.members.forget(chat.id, context.bot.id)
        warning = (texts.NUMBER_DELETED.format(name=user.full_name, what=what) if deleted
                   else msg.NUMBER_WARNING.format(what=what))
        await send_reply(context.bot, chat.id, Reply(warning, kind=ReplyKind.WARNING),
                         reply_to=None if deleted else message.message_id)

    # ----- buttons -----

    @staticmethod
    async def _pressed(update: Update, context: Context
                       ) -> tuple[CallbackQuery, Message, bool, str] | None:
        """The query, its message, whether the presser is the one it answers, and its kind.

        None (with the query answered) when the message is too old for the bot to see.
        """
        query = update.callback_query
        assert query is not None
        if not isinstance(query.message, Message):
            await query.answer(msg.BUTTON_EXPIRED)
            return None
        asker, kind = asker_of(context.chat_data or {}, query.message)
        return query, query.message, asker == query.from_user.id, kind

    async def show_entry(self, update: Update, context: Context) -> None:
        """A question button: the asker's did-you-mean turns into the answer; others get a new one."""
        assert update.callback_query is not None
        action = parse(update.callback_query.data)
        if not isinstance(action, ShowEntry) or action.entry_id not in self.engine.kb.entries:
            await update.callback_query.answer(msg.BUTTON_EXPIRED)
            return
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, kind = pressed
        entry_id = action.entry_id
        reply = self.engine.entry_reply(entry_id)
        chat_data = self.chat_data(context)
        self.conversation.chose_suggestion(
            self.who(update), entry_id,
            Pressed(query.data or "", message.message_id, kind == ReplyKind.SUGGEST), chat_data)
        if own and kind == ReplyKind.SUGGEST:
            await query.answer()
            shown = await edit_reply(context.bot, message.chat.id, [message.message_id], reply)
            note_asker(chat_data, shown[-1], query.from_user.id, reply.kind)
            note_answered(chat_data, entry_id, shown[0], self.cooldown)
            return
        await query.answer(None if own else texts.NOT_YOUR_QUESTION)
        await self._post(context, message.chat, reply, message.message_id, query.from_user.id)

    async def show_topic(self, update: Update, context: Context) -> None:
        """A topic button: the asker's menu changes in place; others get a menu of their own."""
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, _ = pressed
        action = parse(query.data)
        category = action.category if isinstance(action, ShowTopic) else None
        reply = (self.engine.topic(category) if category else None) or self.engine.topics()
        if own:
            await query.answer()
            await edit_reply(context.bot, message.chat.id, [message.message_id], reply)
            return
        await query.answer(texts.NOT_YOUR_MENU)
        await self._post(context, message.chat, reply, message.message_id, query.from_user.id)

    async def none_of_these(self, update: Update, context: Context) -> None:
        """都不是: noted whoever presses it; only the asker's did-you-mean turns into the pointer."""
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, _ = pressed
        self.conversation.give_feedback(self.who(update), Feedback.NONE_OF_THESE, None,
                                        message.message_id, self.chat_data(context))
        if own:
            await query.answer()
            await edit_reply(context.bot, message.chat.id, [message.message_id],
                             self.engine.none_of_these())
            return
        await query.answer(texts.NONE_OF_THESE_OTHER, show_alert=True)

    async def vote(self, update: Update, context: Context) -> None:
        """👍/👎: recorded once per voter; the asker's vote also takes the vote buttons away."""
        assert update.callback_query is not None
        action = parse(update.callback_query.data)
        if not isinstance(action, Vote) or action.entry_id not in self.engine.kb.entries:
            await update.callback_query.answer(msg.BUTTON_EXPIRED)
            return
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, _ = pressed
        new = self.conversation.give_feedback(
            self.who(update), Feedback.UP if action.up else Feedback.DOWN, action.entry_id,
            message.message_id, self.chat_data(context))
        if not new:
            await query.answer(msg.FEEDBACK_ALREADY)
        elif not own:
            await query.answer(texts.FEEDBACK_THANKS_OTHER)
        else:
            await query.answer(msg.FEEDBACK_THANKS)
        if own:
            await drop_button_rows(context.bot, message, is_vote)

    async def open_private(self, update: Update, context: Context) -> None:
        """一步步带我绑定 in a group: the press opens the private chat at the dialogue's start."""
        assert update.callback_query is not None
        await update.callback_query.answer(url=create_deep_linked_url(context.bot.username, DEEP_LINK))

    async def toggle(self, update: Update, context: Context) -> None:
        """The settings button: turns auto-answer on or off, for admins only."""
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, _, _ = pressed
        chat = message.chat
        if not await self.members.is_admin(context.bot, chat.id, query.from_user.id):
            await query.answer(texts.SETTINGS_ADMIN_ONLY, show_alert=True)
            return
        action = parse(query.data)
        on = isinstance(action, AutoAnswer) and action.on
        assert context.chat_data is not None
        context.chat_data.setdefault(SETTINGS_KEY, {})[AUTO_ANSWER] = on
        logger.info("group %s: auto-answer %s by %s", chat.id, "on" if on else "off", query.from_user.id)
        await query.answer(texts.AUTO_ANSWER_SAVED.format(
            state=texts.AUTO_ANSWER_ON if on else texts.AUTO_ANSWER_OFF))
        body, markup = await self._settings_menu(context, chat)
        try:
            await context.bot.edit_message_text(body, chat_id=chat.id, message_id=message.message_id,
                                                reply_markup=markup)
        except BadRequest as exc:  # pressed twice: the menu already shows this
            logger.debug("settings menu unchanged: %s", exc)
