"""Buttons pressed in groups: only the asker's press changes the asker's message; others get
their own reply."""

from __future__ import annotations

import logging
from typing import TypeVar

from telegram import (
    CallbackQuery,
    Message,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler
from telegram.helpers import create_deep_linked_url

from ...analytics import EventKind
from ...conversation import Pressed
from ...engine import ReplyKind
from ...engine import messages as msg
from ...engine.actions import AutoAnswer, ShowEntry, ShowTopic, Vote, parse
from .. import texts
from ..memory import Context
from ..private import DEEP_LINK
from ..render import drop_button_rows, edit_reply, is_vote
from ..surface import Surface
from .chats import GroupChats
from .rules import GROUP_TYPES

logger = logging.getLogger(__name__)

EntryAction = TypeVar("EntryAction", ShowEntry, Vote)


class GroupButtons(CallbackQueryHandler[Context, None]):
    """A CallbackQueryHandler for buttons pressed in group chats only."""

    def check_update(self, update: object) -> bool | object | None:
        """Accept the query only when it was pressed in a group or supergroup."""
        if not isinstance(update, Update) or update.effective_chat is None:
            return None
        if update.effective_chat.type not in GROUP_TYPES:
            return None
        return super().check_update(update)


class GroupPresses:
    """The group twins of the private chat's buttons."""

    def __init__(self, chats: GroupChats) -> None:
        self.chats = chats


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
        asker, kind = Surface.chat_data(context).asker_of(query.message)
        return query, query.message, asker == query.from_user.id, kind

    async def _entry_press(self, update: Update, context: Context, kind: type[EntryAction]
                           ) -> tuple[EntryAction, tuple[CallbackQuery, Message, bool, str]] | None:
        """The button's action about an entry, with _pressed()'s answer; None (the press
        answered) for an unknown entry or a message too old to see."""
        assert update.callback_query is not None
        action = parse(update.callback_query.data)
        if not isinstance(action, kind) or action.entry_id not in self.chats.engine.kb.entries:
            await update.callback_query.answer(msg.BUTTON_EXPIRED)
            return None
        pressed = await self._pressed(update, context)
        return None if pressed is None else (action, pressed)

    async def show_entry(self, update: Update, context: Context) -> None:
        """A question button: the asker's did-you-mean turns into the answer; others get a new one."""
        if (found := await self._entry_press(update, context, ShowEntry)) is None:
            return
        action, (query, message, own, kind) = found
        entry_id = action.entry_id
        reply = self.chats.engine.entry_reply(entry_id)
        chat_data = self.chats.chat_data(context)
        self.chats.conversation.chose_suggestion(
            self.chats.who(update), entry_id,
            Pressed(query.data or "", message.message_id, kind == ReplyKind.SUGGEST), chat_data)
        if own and kind == ReplyKind.SUGGEST:
            await query.answer()
            shown = await edit_reply(context.bot, message.chat.id, [message.message_id], reply)
            chat_data.note_asker(shown[-1], query.from_user.id, reply.kind)
            chat_data.note_answered(entry_id, shown[0], self.chats.cooldown)
            return
        await query.answer(None if own else texts.NOT_YOUR_QUESTION)
        await self.chats.post(context, message.chat, reply, message.message_id, query.from_user.id)

    async def show_topic(self, update: Update, context: Context) -> None:
        """A topic button: the asker's menu changes in place; others get a menu of their own."""
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, _ = pressed
        action = parse(query.data)
        category = action.category if isinstance(action, ShowTopic) else None
        reply = self.chats.engine.topic(category) if category else self.chats.engine.topics()
        if reply is None:  # a topic this knowledge base no longer has: the message stays
            await query.answer(msg.BUTTON_EXPIRED)
            return
        if own:
            await query.answer()
            await edit_reply(context.bot, message.chat.id, [message.message_id], reply)
            return
        await query.answer(texts.NOT_YOUR_MENU)
        await self.chats.post(context, message.chat, reply, message.message_id, query.from_user.id)

    async def none_of_these(self, update: Update, context: Context) -> None:
        """都不是: noted whoever presses it; only the asker's did-you-mean turns into the pointer."""
        if (pressed := await self._pressed(update, context)) is None:
            return
        query, message, own, _ = pressed
        self.chats.conversation.give_feedback(self.chats.who(update), EventKind.NONE_OF_THESE, None,
                                        message.message_id, self.chats.chat_data(context))
        if own:
            await query.answer()
            await edit_reply(context.bot, message.chat.id, [message.message_id],
                             self.chats.engine.none_of_these())
            return
        await query.answer(texts.NONE_OF_THESE_OTHER, show_alert=True)

    async def vote(self, update: Update, context: Context) -> None:
        """👍/👎: recorded once per voter; the asker's vote also takes the vote buttons away."""
        if (found := await self._entry_press(update, context, Vote)) is None:
            return
        action, (query, message, own, _) = found
        new = self.chats.conversation.give_feedback(
            self.chats.who(update), EventKind.FEEDBACK_UP if action.up else EventKind.FEEDBACK_DOWN, action.entry_id,
            message.message_id, self.chats.chat_data(context))
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
        if not await self.chats.members.is_admin(context.bot, chat.id, query.from_user.id):
            await query.answer(texts.SETTINGS_ADMIN_ONLY, show_alert=True)
            return
        action = parse(query.data)
        on = isinstance(action, AutoAnswer) and action.on
        assert context.chat_data is not None
        context.chat_data.auto_answer = on
        logger.info("group %s: auto-answer %s by %s", chat.id, "on" if on else "off", query.from_user.id)
        await query.answer(texts.AUTO_ANSWER_SAVED.format(
            state=texts.AUTO_ANSWER_ON if on else texts.AUTO_ANSWER_OFF))
        body, markup = await self.chats.settings_menu(context, chat)
        try:
            await context.bot.edit_message_text(body, chat_id=chat.id, message_id=message.message_id,
                                                reply_markup=markup)
        except BadRequest as exc:  # pressed twice: the menu already shows this
            logger.debug("settings menu unchanged: %s", exc)
