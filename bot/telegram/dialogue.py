"""The guided binding dialogue as a ConversationHandler: one state, its message edited in place."""

from __future__ import annotations

import logging
import time
import warnings

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from ..engine import Dialogues, DialogueState, Reply
from ..engine import messages as msg
from ..engine.dialogue import parse_action
from . import texts
from .handlers import NEW_MESSAGES, Answers, screen_text
from .ops import EngineRef
from .render import drop_buttons, edit_reply, send_reply

logger = logging.getLogger(__name__)

FLOW_ID = "bind"  # the flow in knowledge/flows/ this conversation runs
BINDING = "binding"  # the one conversation state: a dialogue is under way
END = ConversationHandler.END
DEEP_LINK = "bind"  # t.me/<bot>?start=bind opens the dialogue from a group
START_PAYLOAD = rf"^/start(?:@\w+)?\s+{DEEP_LINK}\s*$"
STATE_KEY = "dialogue"  # user_data: DialogueState.to_dict(), so persistence keeps it
MESSAGE_KEY = "dialogue_message"  # user_data: [chat id, message id] of the step on screen
RESUME = "resume"


class BindDialogue:
    """Runs the binding flow for one user at a time, keeping its state in user_data."""

    def __init__(self, dialogues: Dialogues | EngineRef, answers: Answers, timeout: float) -> None:
        self._dialogues = dialogues
        self.answers = answers
        self.timeout = timeout

    @property
    def dialogues(self) -> Dialogues:
        """The dialogue runner over the knowledge base in service (a reload swaps it)."""
        held = self._dialogues
        return held.dialogues if isinstance(held, EngineRef) else held

    def conversation(self) -> ConversationHandler:
        """The ConversationHandler: entry points, the one state, /cancel, and the idle timeout."""
        with warnings.catch_warnings():
            # Tracked per user and chat, not per message, on purpose: the step moves to a new
            # message after a typed answer or a free question, and must still be found.
            warnings.filterwarnings("ignore", ".*per_message=False.*", PTBUserWarning)
            return ConversationHandler(
                entry_points=[
                    CommandHandler("bind", self.begin, filters=NEW_MESSAGES),
                    CommandHandler("start", self.begin,
                                   filters=NEW_MESSAGES & filters.Regex(START_PAYLOAD)),
                    CallbackQueryHandler(self.begin, pattern=rf"^flow:{FLOW_ID}$"),
                ],
                states={
                    BINDING: [
                        CallbackQueryHandler(self.press, pattern=r"^d:"),
                        MessageHandler(NEW_MESSAGES & filters.TEXT & ~filters.COMMAND, self.text),
                    ],
                    ConversationHandler.TIMEOUT: [TypeHandler(Update, self.timed_out)],
                },
                fallbacks=[CommandHandler("cancel", self.cancel, filters=NEW_MESSAGES)],
                name=FLOW_ID,
                persistent=True,
                allow_reentry=True,
                conversation_timeout=self.timeout,
            )

    # ----- state in user_data -----

    @staticmethod
    def _load(context: ContextTypes.DEFAULT_TYPE) -> DialogueState | None:
        data = (context.user_data or {}).get(STATE_KEY)
        return DialogueState.from_dict(data) if isinstance(data, dict) else None

    @staticmethod
    def _save(
        context: ContextTypes.DEFAULT_TYPE, state: DialogueState | None,
        chat_id: int | None = None, message_id: int | None = None,
    ) -> object:
        """Store the state (or clear it when the dialogue ended) and return the next state."""
        user_data = context.user_data
        assert user_data is not None
        if state is None:
            user_data.pop(STATE_KEY, None)
            user_data.pop(MESSAGE_KEY, None)
            return END
        user_data[STATE_KEY] = state.to_dict()
        if message_id is not None:
            user_data[MESSAGE_KEY] = [chat_id, message_id]
        return BINDING

    @staticmethod
    def _on_screen(context: ContextTypes.DEFAULT_TYPE) -> tuple[int, int] | None:
        ref = (context.user_data or {}).get(MESSAGE_KEY)
        return (int(ref[0]), int(ref[1])) if ref else None

    async def _retire(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Take the buttons off the step message before the dialogue moves to a new one."""
        ref = self._on_screen(context)
        if ref is not None:
            await drop_buttons(context.bot, *ref)

    async def _show_new(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                        reply: Reply, state: DialogueState | None) -> object:
        """Move the dialogue to a new message at the bottom of the chat."""
        await self._retire(context)
        sent = await send_reply(context.bot, chat_id, reply)
        return self._save(context, state, chat_id, sent[-1])

    async def _time_out(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> object:
        await self._retire(context)
        await send_reply(context.bot, chat_id, Reply(msg.FLOW_TIMEOUT, kind="dialogue"))
        return self._save(context, None)

    # ----- callbacks -----

    async def begin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        """/bind, /start bind or the 一步步带我绑定 button, in a private chat: the first step.

        In groups the group handlers, registered before the dialogue, take all three and link
        to the private chat (groups.GroupChats.bind, .help and .open_private).
        """
        if update.callback_query is not None:
            await update.callback_query.answer()
        chat = update.effective_chat
        assert chat is not None
        if FLOW_ID not in self.dialogues.flows:
            await send_reply(context.bot, chat.id, Reply(msg.FLOW_ENDED, kind="dialogue"))
            return END
        reply, state = self.dialogues.start(FLOW_ID)
        return await self._show_new(context, chat.id, reply, state)

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        """A dialogue button: the next step, edited into the dialogue's message."""
        query, chat = update.callback_query, update.effective_chat
        assert query is not None and query.message is not None and chat is not None
        state = self._load(context)
        parsed = parse_action(query.data or "")
        if state is None or parsed is None or parsed[0] != state.nonce:
            await query.answer(msg.FLOW_ENDED)  # a button from an earlier dialogue
            return END if state is None else BINDING
        await query.answer()
        if self.dialogues.expired(state, self.timeout):  # idle across a restart
            return await self._time_out(context, chat.id)
        reply, new_state = self.dialogues.press(state, query.data or "")
        if self._on_screen(context) != (chat.id, query.message.message_id):
            # 回到绑定流程 under an answer: bring the step back below it.
            return await self._show_new(context, chat.id, reply, new_state)
        shown = await edit_reply(context.bot, chat.id, [query.message.message_id], reply)
        return self._save(context, new_state, chat.id, shown[-1])

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        """Typed text: an answer to the step, 继续/取消, or a free question that keeps the place."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        text = message.text or ""
        state = self._load(context)
        if state is None:  # the conversation outlived its data: just answer
            await self.answers.answer_text(update, context, text)
            return END
        if self.dialogues.expired(state, self.timeout):
            ended = await self._time_out(context, chat.id)
            await self.answers.answer_text(update, context, text)
            return ended
        warning, question = screen_text(text)
        if warning is not None:
            await send_reply(context.bot, chat.id, warning, reply_to=message.message_id)
        if question is None:
            return BINDING
        word = question.strip()
        if word in texts.CANCEL_WORDS:
            return await self.cancel(update, context)
        if word in texts.RESUME_WORDS:
            return await self._show_new(context, chat.id, self.dialogues.render(state), state)
        handled = self.dialogues.text(state, question)
        if handled is not None:
            return await self._show_new(context, chat.id, *handled)
        await self.answers.answer_text(update, context, question, dialogue=state)
        state.updated = time.time()  # asking is activity too: the idle clock starts again
        return self._save(context, state)

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        """/cancel or 取消 typed during the dialogue."""
        assert update.effective_chat is not None
        await self._retire(context)
        await send_reply(context.bot, update.effective_chat.id, Reply(msg.FLOW_CANCELLED, kind="dialogue"))
        return self._save(context, None)

    async def timed_out(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The dialogue sat idle for DIALOGUE_TIMEOUT seconds: end it and say so."""
        ref = self._on_screen(context)
        chat_id = ref[0] if ref else (update.effective_chat.id if update.effective_chat else None)
        if chat_id is None:
            self._save(context, None)
            return
        logger.info("dialogue of chat %s timed out", chat_id)
        await self._time_out(context, chat_id)
