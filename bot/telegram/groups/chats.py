"""Group chats: when the bot is addressed, auto-answers with a cooldown, /settings, posted numbers."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import html
import logging
import secrets
from collections import OrderedDict

from telegram import (
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop
from telegram.helpers import create_deep_linked_url

from ...analytics import MAX_QUESTION_CHARS
from ...conversation import Conversation, screen
from ...engine import Reply, ReplyKind, sensitive
from ...engine import messages as msg
from ...engine.actions import AutoAnswer, encode
from ...engine.normalize import compact
from .. import texts
from ..memory import Context
from ..private import DEEP_LINK
from ..processor import PerChatUpdateProcessor
from ..render import send_reply
from ..surface import Surface
from .members import MemberCache
from .rules import (
    DELETE_KINDS,
    GROUP_TYPES,
    addressed,
    confident,
    looks_like_question,
    message_link,
    message_text,
    sender_mention,
    sender_name,
)

logger = logging.getLogger(__name__)

BUSY_AFTER = 5  # updates waiting in a group before it is told that answers are delayed
WARNED_MEMORY = 1000  # group messages whose warned-about numbers are remembered (for edits)


def period(seconds: float) -> str:
    """A cooldown as people read it: "20 秒" under a minute, else whole minutes ("5 分钟")."""
    if seconds < 60:
        return texts.SECONDS.format(n=max(1, round(seconds)))
    return texts.MINUTES.format(n=round(seconds / 60))


class GroupChats(Surface):
    """Everything the bot does in groups: answers when addressed, auto-answers, settings, numbers."""

    def __init__(self, conversation: Conversation, cooldown: float,
                 members: MemberCache | None = None) -> None:
        super().__init__(conversation)  # answers, analytics and feedback, as in private chats
        self.cooldown = cooldown
        self.members = members or MemberCache()
        self._warned: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._coalesced: dict[tuple[int, int], bool] = {}  # (chat, update id): answered already
        self._told_busy: set[int] = set()  # groups told that answers are delayed, this burst
        self._warn_key = secrets.token_bytes(32)

    async def post(
        self, context: Context, chat: Chat, reply: Reply, reply_to: int,
        asker: int, question: str | None = None,
    ) -> list[int]:
        """Send a reply quoting `reply_to`, and remember its asker, question and entry."""
        sent = await send_reply(context.bot, chat.id, reply, reply_to=reply_to)
        chat_data = context.chat_data
        if chat_data is not None:
            chat_data.note_asker(sent[-1], asker, reply.kind)
            if question is not None:
                chat_data.remember(reply_to, sent, question)
            if reply.entry_id and reply.answered:
                chat_data.note_answered(reply.entry_id, sent[0], self.cooldown)
        return sent

    async def _answer(self, update: Update, context: Context, target: Message,
                      question: str) -> None:
        """Answer a question put to the bot, quoting the message it is in.

        In a busy group the same question still waiting its turn is answered by this answer
        (which names who asked it too), and the group is told once that answers are delayed.
        """
        chat = target.chat
        if self._coalesced.pop((chat.id, update.update_id), False):
            logger.info("group %s: update %s was answered with an earlier one", chat.id,
                        update.update_id)
            return
        question = question[:MAX_QUESTION_CHARS]
        waiting = self._waiting(context, chat.id)
        await self._tell_if_busy(context, chat, waiting)
        reply, _ = self.conversation.answer(self.who(update), question)
        same = self._same_question(context, chat.id, waiting, question)
        if same:
            names = "、".join(dict.fromkeys(sender_name(m) for _, m in same))
            reply = dataclasses.replace(
                reply, body=f"{reply.body}\n\n{texts.ALSO_ASKED.format(names=names)}")
            for other, message in same:
                self._coalesced[(chat.id, other.update_id)] = True
                self.conversation.record_question(self.who(other), reply, message_text(message))
        asker = target.from_user.id if target.from_user else 0
        await self.post(context, chat, reply, target.message_id, asker, question)

    @staticmethod
    def _waiting(context: Context, chat_id: int) -> list[Update]:
        processor = context.application.update_processor
        if not isinstance(processor, PerChatUpdateProcessor):
            return []
        return [u for u in processor.waiting(chat_id) if isinstance(u, Update)]

    async def _tell_if_busy(self, context: Context, chat: Chat, waiting: list[Update]) -> None:
        """Say once per burst that answers are delayed; a burst ends when nothing waits."""
        if not waiting:
            self._told_busy.discard(chat.id)
        elif len(waiting) >= BUSY_AFTER and chat.id not in self._told_busy:
            self._told_busy.add(chat.id)
            logger.info("group %s: %d updates waiting; telling the group", chat.id, len(waiting))
            await context.bot.send_message(chat.id, html.escape(texts.BUSY_NOTICE))

    def _same_question(self, context: Context, chat_id: int, waiting: list[Update],
                       question: str) -> list[tuple[Update, Message]]:
        """The waiting updates of the chat that put the same question to the bot."""
        key = compact(question)
        found: list[tuple[Update, Message]] = []
        for other in waiting:
            message = other.message
            if message is None or (chat_id, other.update_id) in self._coalesced:
                continue
            asked = addressed(message, context.bot.username, context.bot.id)
            if asked is not None and asked[1] is message and compact(
                    asked[0][:MAX_QUESTION_CHARS]) == key:
                found.append((other, message))
        return found

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
            if self.chat_data(context).auto_answer:
                await self.auto_answer(update, context)
        elif not compact(found[0]):
            await self._say(context, message, texts.GROUP_HELP)
        else:
            await self._answer(update, context, found[1], found[0])

    async def auto_answer(self, update: Update, context: Context) -> None:
        """An unaddressed message: answered only if it is a question the bot is sure about."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        text = message_text(message)[:MAX_QUESTION_CHARS]
        if not looks_like_question(text):
            return
        reply, match = self.conversation.look_up(text)
        if not confident(reply, match, self.engine.matcher.policy):
            logger.debug("group %s: not sure enough to answer %r unasked (%s)", chat.id, text, reply.kind)
            return
        assert reply.entry_id is not None
        self.conversation.record_question(self.who(update), reply, text)
        earlier = self.chat_data(context).recent_answer(reply.entry_id, self.cooldown)
        if earlier is not None:
            await self.point_to(context, message, earlier)
            return
        logger.info("group %s: auto-answering %r with %s (%.2f)", chat.id, text, reply.entry_id, reply.score)
        await self.post(context, chat, reply, message.message_id, user.id, text)

    async def point_to(self, context: Context, message: Message, earlier: int) -> None:
        """上面刚回答过: a link to the earlier answer, or in a basic group a reply to it."""
        link = message_link(message.chat, earlier)
        if link is not None:
            body = (f"{html.escape(texts.RECENTLY_ANSWERED)}"
                    f'<a href="{html.escape(link)}">{html.escape(texts.SEE_EARLIER_ANSWER)}</a>')
            quote = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        else:
            asker = f"{sender_mention(message)} "
            body = f"{asker}{html.escape(texts.RECENTLY_ANSWERED_HERE)}"
            quote = ReplyParameters(earlier, allow_sending_without_reply=True)
        await context.bot.send_message(message.chat.id, body, reply_parameters=quote)

    # ----- commands -----

    async def topics(self, update: Update, context: Context) -> None:
        """/faq or /topics in a group: the topic menu, quoting the asker."""
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        await self.post(context, message.chat, self.engine.topics(), message.message_id, user.id)

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
        body, markup = await self.settings_menu(context, chat)
        await context.bot.send_message(
            chat.id, body, reply_markup=markup,
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )

    async def settings_menu(self, context: Context,
                             chat: Chat) -> tuple[str, InlineKeyboardMarkup]:
        on = self.chat_data(context).auto_answer
        sees_all = context.bot.can_read_all_group_messages or await self.members.is_admin(
            context.bot, chat.id, context.bot.id)
        lines = [
            f"<b>{html.escape(texts.SETTINGS_TITLE)}</b>",
            html.escape(texts.AUTO_ANSWER_STATE.format(
                state=texts.AUTO_ANSWER_ON if on else texts.AUTO_ANSWER_OFF)),
            html.escape(texts.AUTO_ANSWER_EXPLAINED.format(period=period(self.cooldown))),
            html.escape(texts.SEES_ALL_MESSAGES if sees_all else texts.SEES_COMMANDS_ONLY),
        ]
        button = InlineKeyboardButton(texts.TURN_OFF if on else texts.TURN_ON,
                                      callback_data=encode(AutoAnswer(not on)))
        return "\n\n".join(lines), InlineKeyboardMarkup.from_button(button)

    async def migrate(self, update: Update, context: Context) -> None:
        """A group became a supergroup: its settings and memory move to the new chat id."""
        message = update.effective_message
        if message is None:
            return
        # Telegram says it twice: "migrate_to" in the old group, "migrate_from" in the new one.
        old, new = ((message.chat.id, message.migrate_to_chat_id) if message.migrate_to_chat_id
                    else (message.migrate_from_chat_id, message.chat.id))
        if old is None or new is None or old not in context.application.chat_data:
            return
        logger.info("group %s migrated to %s", old, new)
        context.application.migrate_chat_data(old_chat_id=old, new_chat_id=new)
        moved = context.application.chat_data.get(new)
        if moved is not None:  # message ids of the old chat: no link or reply can reach them
            moved.forget_messages()

    async def my_membership(self, update: Update, context: Context) -> None:
        """my_chat_member: the bot was added, promoted or restricted; what it may do counts now
        (a just-promoted bot deletes numbers at once, not after the cache's minute)."""
        changed = update.my_chat_member
        if changed is not None:
            member = changed.new_chat_member
            logger.info("in chat %s the bot is now %s", changed.chat.id, member.status)
            self.members.remember(changed.chat.id, member.user.id, member)
        raise ApplicationHandlerStop

    # ----- posted numbers -----

    def _first_warning(self, chat_id: int, message_id: int, findings: list[sensitive.Finding],
                       text: str) -> bool:
        """Note the numbers a message was warned about; False if it already was, for these.

        Only a keyed digest is kept, in memory (never the numbers, never on disk).
        """
        digest = hmac.new(self._warn_key, "\n".join(
            sorted(f"{f.kind}:{text[f.start:f.end]}" for f in findings)).encode(),
            hashlib.sha256).digest()
        key = (chat_id, message_id)
        if self._warned.get(key) == digest:
            return False
        self._warned[key] = digest
        self._warned.move_to_end(key)
        while len(self._warned) > WARNED_MEMORY:
            self._warned.popitem(last=False)
        return True

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
        """A message edited to hold a number: warned about and deleted like a new one (an edit
        that still holds the numbers already warned about is not warned about again)."""
        await self._screen_numbers(update, context, edit=True)

    async def sensitive_as_channel(self, update: Update, context: Context) -> None:
        """A number posted "as a channel" (no person to screen, so the gate drops it after this):
        warned about and deleted like a person's."""
        await self._screen_numbers(update, context, edit=update.edited_message is not None)
        raise ApplicationHandlerStop

    async def _screen_numbers(self, update: Update, context: Context, edit: bool = False) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        findings = sensitive.find(message_text(message))
        if not self._first_warning(chat.id, message.message_id, findings, message_text(message)) and edit:
            logger.debug("edit of message %s in %s holds the numbers already warned about",
                         message.message_id, chat.id)
            return
        what = sensitive.describe(findings)
        deleted = False
        if any(f.kind in DELETE_KINDS for f in findings) and await self.members.can_delete(
                context.bot, chat.id):
            try:
                deleted = await context.bot.delete_message(chat.id, message.message_id)
            except BadRequest as exc:  # too old, already gone, or the right was just taken away
                logger.info("cannot delete message %s in %s: %s", message.message_id, chat.id, exc)
                self.members.forget(chat.id, context.bot.id)
        warning = (texts.NUMBER_DELETED.format(name=sender_name(message), what=what) if deleted
                   else msg.NUMBER_WARNING.format(what=what))
        await send_reply(context.bot, chat.id, Reply(warning, kind=ReplyKind.WARNING),
                         reply_to=None if deleted else message.message_id)
