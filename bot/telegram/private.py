"""The private chat: Telegram updates into conversation-core calls, the core's replies into messages.

The dialogue's step is one message, edited in place by its buttons; a typed answer or a free
question moves it to a new message at the bottom, and the old one loses its buttons. An idle
dialogue ends by itself after the timeout (a job per user; after a restart, the next press or
message finds it expired).
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, Update
from telegram.ext import Job

from ..conversation import Out, Pressed, Show, UserState
from ..conversation.core import FLOW_ID
from ..engine import Reply, ReplyKind
from ..engine import messages as msg
from .memory import Context, UserData
from .render import drop_button_rows, drop_buttons, edit_reply, is_suggestion, is_vote, send_reply
from .surface import Surface

logger = logging.getLogger(__name__)

DEEP_LINK = FLOW_ID  # t.me/<bot>?start=bind opens the dialogue from a group
TIMEOUT_JOB = "dialogue-timeout:{user}"


class PrivateChat(Surface):
    """The private-chat surface of the conversation core."""

    # ----- input -----

    async def text(self, update: Update, context: Context) -> None:
        """A text message: the dialogue's input, or a question."""
        message = update.effective_message
        assert message is not None
        user = self.user_data(context).load()
        outs = self.conversation.text(user, self.who(update), message.text or "")
        await self.deliver(update, context, user, outs)

    async def command(self, update: Update, context: Context) -> None:
        """/start, /help, /topics, /bind, /cancel, /ask and commands the bot does not have."""
        message = update.effective_message
        assert message is not None
        head, _, arg = (message.text or "").partition(" ")
        name = head.removeprefix("/").split("@")[0]
        user = self.user_data(context).load()
        outs = self.conversation.command(user, self.who(update), name, arg.strip())
        await self.deliver(update, context, user, outs)

    async def caption(self, update: Update, context: Context) -> None:
        """A photo, video or document with a caption: the caption is read like a message."""
        message = update.effective_message
        assert message is not None
        words = (message.caption or "").strip()
        user = self.user_data(context).load()
        if words.startswith("/"):
            head, _, arg = words.partition(" ")
            outs = self.conversation.command(user, self.who(update), head[1:].split("@")[0],
                                             arg.strip())
        else:
            outs = self.conversation.text(user, self.who(update), words)
        await self.deliver(update, context, user, outs)

    async def press(self, update: Update, context: Context) -> None:
        """A button under one of the bot's messages in this chat."""
        query = update.callback_query
        assert query is not None
        if not isinstance(query.message, Message):  # too old for the bot to see
            await query.answer(msg.BUTTON_EXPIRED)
            return
        user = self.user_data(context).load()
        pressed = Pressed(query.data or "", query.message.message_id, is_suggestion(query.message))
        outs = self.conversation.press(user, self.who(update), pressed, self.chat_data(context))
        await self.deliver(update, context, user, outs, query)

    async def edited(self, update: Update, context: Context) -> None:
        """An edited question: the bot's earlier reply is edited to answer the new wording."""
        message, chat = update.edited_message, update.effective_chat
        assert message is not None and chat is not None
        chat_data = self.chat_data(context)
        earlier = chat_data.replies_to(message.message_id)
        if earlier is None:
            logger.debug("edit of message %s, which the bot did not answer", message.message_id)
            return
        for out in self.conversation.question(self.who(update), message.text or ""):
            if out.show is Show.QUOTE:
                await send_reply(context.bot, chat.id, out.reply, reply_to=message.message_id)
                continue
            shown = await edit_reply(context.bot, chat.id, earlier, out.reply)
            chat_data.remember(message.message_id, shown, out.question or "")

    async def not_text(self, update: Update, context: Context) -> None:
        """A sticker, photo or voice message."""
        assert update.effective_chat is not None
        await send_reply(context.bot, update.effective_chat.id, Reply(msg.TEXT_ONLY, kind=ReplyKind.MENU))

    # ----- output -----

    async def deliver(self, update: Update, context: Context, user: UserState, outs: list[Out],
                      query: CallbackQuery | None = None) -> None:
        """Show the core's replies, keep the user's state, and move the dialogue's message."""
        chat, message = update.effective_chat, update.effective_message
        assert chat is not None and message is not None
        user_data, chat_data = self.user_data(context), self.chat_data(context)
        if query is not None:
            toast = next((o.reply.body for o in outs if o.show is Show.TOAST), None)
            await query.answer(toast)
        step: int | None = None  # the message now showing the dialogue
        edited: int | None = None
        retired = False
        for out in outs:
            if out.show is Show.QUOTE or (out.show is Show.IN_PLACE and query is None):
                await send_reply(context.bot, chat.id, out.reply, reply_to=message.message_id)
                continue
            if out.show is Show.DROP_VOTES:
                if isinstance(message, Message):
                    await drop_button_rows(context.bot, message, is_vote)
                continue
            if out.show is Show.TOAST:
                continue
            dialogue = out.reply.kind is ReplyKind.DIALOGUE
            if out.show is Show.IN_PLACE:
                sent = await edit_reply(context.bot, chat.id, [message.message_id], out.reply)
                edited = sent[-1]
            else:
                if dialogue and not retired:  # the dialogue moves down: the old step goes quiet
                    retired = await self._retire(context, user_data)
                sent = await send_reply(context.bot, chat.id, out.reply)
            if out.question is not None and query is None:
                chat_data.remember(message.message_id, sent, out.question)
            if dialogue:
                step = sent[-1]
        if user.dialogue is None:
            if not retired and user_data.step_message not in (None, (chat.id, edited)):
                await self._retire(context, user_data)
            user_data.step_message = None
        elif step is not None:
            user_data.step_message = (chat.id, step)
        user_data.save(user)
        if update.effective_user is not None:
            self._schedule_timeout(context, user, chat.id, update.effective_user.id)

    @staticmethod
    async def _retire(context: Context, user_data: UserData) -> bool:
        """Take the buttons off the dialogue step on screen."""
        if user_data.step_message is not None:
            await drop_buttons(context.bot, *user_data.step_message)
        return True

    # ----- the idle timeout -----

    def _schedule_timeout(self, context: Context, user: UserState, chat_id: int, user_id: int) -> None:
        queue = context.job_queue
        if queue is None:
            return
        name = TIMEOUT_JOB.format(user=user_id)
        for job in queue.get_jobs_by_name(name):
            job.schedule_removal()
        if user.dialogue is not None:
            queue.run_once(self.timed_out, self.conversation.timeout, data=user.dialogue.nonce,
                           name=name, chat_id=chat_id, user_id=user_id)

    async def timed_out(self, context: Context) -> None:
        """The dialogue sat idle for the timeout: end it and say so."""
        job: Job[Context] | None = context.job
        if job is None or job.chat_id is None or context.user_data is None:
            return
        user_data = context.user_data
        user = user_data.load()
        if user.dialogue is None or user.dialogue.nonce != job.data:
            return
        logger.info("dialogue of chat %s timed out", job.chat_id)
        await self._retire(context, user_data)
        for out in self.conversation.expire(user):
            await send_reply(context.bot, job.chat_id, out.reply)
        user_data.step_message = None
        user_data.save(user)
