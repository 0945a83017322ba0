"""Handlers for commands, free questions, menu and answer buttons, and edited questions."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from ..analytics import MAX_QUESTION_CHARS, SUGGESTION_CHOSEN, kind_of
from ..engine import DialogueState, Engine, Reply, sensitive
from ..engine import messages as msg
from ..engine.dialogue import with_resume
from ..engine.normalize import compact
from . import texts
from .feedback import NONE_OF_THESE, VOTES, EventSink, FeedbackSink
from .health import SKIPPED
from .ops import EngineRef, note_outcome
from .render import drop_button_rows, edit_reply, send_reply

logger = logging.getLogger(__name__)

NEW_MESSAGES = filters.UpdateType.MESSAGE  # not edits, not channel posts
PRIVATE = filters.ChatType.PRIVATE
GROUPS = filters.ChatType.GROUPS
MIN_QUESTION_CHARS = 4  # what must be left beside a hidden number to be answered as a question
REPLY_MEMORY = 200  # per chat: questions whose replies are remembered so that edits can follow
REPLIES_KEY = "replies"  # chat_data: {user message id: {"bot": [bot message ids], "q": question}}
NONE_ACTION = "none"  # the action of 都不是, found only under a "did you mean" reply
FEEDBACK_PREFIX = "fb:"  # the action of 👍/👎: fb:<sign>:<entry id>
FEEDBACK_KEY = "feedback_given"  # chat_data: {"<kind>:<bot message id>": [user ids]}
FEEDBACK_MEMORY = 200  # per chat: bot messages whose 👍/👎 and 都不是 givers are remembered
VOTE = "vote"  # 👍 and 👎 count as one kind of feedback: one vote per user and answer
HANDLED_UPDATES = ("message", "edited_message", "callback_query", "inline_query")
CHATLESS_UPDATES = frozenset({"inline_query"})  # typed in any chat; Telegram does not say which
TELEGRAM_SERVICE_ID = 777000  # "Telegram": the sender of posts a linked channel forwards to its group


def screen_text(text: str) -> tuple[Reply | None, str | None]:
    """A warning if the text holds sensitive data, and the question left once that is removed."""
    findings = sensitive.find(text)
    warning = sensitive.warning_for(findings)
    if warning is None:
        return None, text
    rest = sensitive.remove(text)
    question = rest if len(compact(rest)) >= MIN_QUESTION_CHARS else None
    return Reply(warning, kind="warning"), question


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


async def screen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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


def remember(chat_data: dict[str, Any], message_id: int, bot_ids: list[int], question: str) -> None:
    """Note which bot messages answered a user's message, forgetting the oldest past the limit."""
    replies = chat_data.setdefault(REPLIES_KEY, {})
    replies[message_id] = {"bot": bot_ids, "q": question}
    while len(replies) > REPLY_MEMORY:
        del replies[next(iter(replies))]


def is_suggestion(message: object) -> bool:
    """Whether a bot message is a "did you mean" reply (the only one with a 都不是 button)."""
    markup = getattr(message, "reply_markup", None)
    rows = markup.inline_keyboard if markup is not None else ()
    return any(button.callback_data == NONE_ACTION for row in rows for button in row)


def first_feedback(chat_data: dict[str, Any], bot_message_id: int, kind: str, user_id: int) -> bool:
    """Note that a user gave `kind` feedback on a bot message; False if they already had."""
    given = chat_data.setdefault(FEEDBACK_KEY, {})
    key = f"{kind}:{bot_message_id}"
    users = given.setdefault(key, [])
    if user_id in users:
        return False
    users.append(user_id)
    while len(given) > FEEDBACK_MEMORY:
        del given[next(iter(given))]
    return True


def question_for(chat_data: dict[str, Any], bot_message_id: int) -> str:
    """The question a bot message answered, if it is still remembered."""
    for noted in chat_data.get(REPLIES_KEY, {}).values():
        if bot_message_id in noted["bot"]:
            return str(noted["q"])
    return ""


class Answers:
    """Answers commands, free questions and the engine's buttons with the engine's replies."""

    def __init__(
        self, engine: Engine | EngineRef, feedback: FeedbackSink, events: EventSink | None = None
    ) -> None:
        self.ref = engine if isinstance(engine, EngineRef) else EngineRef(engine)
        self.feedback = feedback
        self.events = events

    @property
    def engine(self) -> Engine:
        """The engine in service (a reload swaps it between two updates)."""
        return self.ref.engine

    def note_question(self, update: Update, reply: Reply, question: str) -> None:
        """Count a question's outcome for the update log and /healthz, and record it for curators."""
        kind = kind_of(reply)
        if kind is None:  # small talk, menus: not a question the knowledge base is judged on
            return
        note_outcome(kind)
        entry_id = reply.entry_id if reply.kind in ("answer", "case") else None
        self.emit(update, kind, question, entry_id=entry_id, score=reply.score)

    def emit(self, update: Update, kind: str, question: str, **fields: Any) -> None:
        """Queue one analytics event; a failing store is logged and never fails the update."""
        if self.events is None:
            return
        user, chat = update.effective_user, update.effective_chat
        try:
            self.events.record_nowait(kind, chat_type=chat.type if chat else None,
                                      user_id=user.id if user else None, question=question, **fields)
        except Exception:
            logger.exception("analytics: could not record a %s event", kind)

    async def _send(self, update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply) -> list[int]:
        assert update.effective_chat is not None  # screen() lets no chat-less update through
        return await send_reply(context.bot, update.effective_chat.id, reply)

    # ----- commands -----

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start: the greeting with the topic buttons."""
        await self._send(update, context, self.engine.greeting())

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: how to use the bot."""
        await self._send(update, context, self.engine.help())

    async def topics(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/topics: the topic menu."""
        await self._send(update, context, self.engine.topics())

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cancel when no dialogue is running (a running one catches /cancel itself)."""
        await self._send(update, context, Reply(texts.NOTHING_TO_CANCEL, kind="dialogue"))

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have."""
        await self._send(update, context, Reply(texts.UNKNOWN_COMMAND, kind="menu"))

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A sticker, photo or voice message in a private chat."""
        await self._send(update, context, Reply(texts.TEXT_ONLY, kind="menu"))

    # ----- questions -----

    async def question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message in a private chat: the matcher's answer."""
        assert update.effective_message is not None
        await self.answer_text(update, context, update.effective_message.text or "")

    async def _screen_and_answer(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str
    ) -> tuple[str, Reply] | None:
        """Warn about numbers in `text`, then match what is left (None: nothing left to answer)."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        warning, question = screen_text(text)
        if warning is not None:
            await send_reply(context.bot, chat.id, warning, reply_to=message.message_id)
        if question is None:
            return None
        question = question[:MAX_QUESTION_CHARS]
        reply = self.engine.answer(question)
        self.note_question(update, reply, question)
        return question, reply

    async def answer_text(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
        dialogue: DialogueState | None = None,
    ) -> None:
        """Warn about sensitive data, then answer what is left; mid-`dialogue`, with a way back."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        answered = await self._screen_and_answer(update, context, text)
        if answered is None:
            return
        question, reply = answered
        logger.info("%s chat: %r → %s %s (%.2f)", chat.type, question, reply.kind,
                    reply.entry_id or "-", reply.score)
        if dialogue is not None:
            reply = with_resume(reply, dialogue)
        sent = await send_reply(context.bot, chat.id, reply)
        if context.chat_data is not None:
            remember(context.chat_data, message.message_id, sent, question)

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited question: edit the bot's earlier reply to answer the new wording."""
        message, chat = update.edited_message, update.effective_chat
        assert message is not None and chat is not None
        noted = (context.chat_data or {}).get(REPLIES_KEY, {}).get(message.message_id)
        if noted is None:
            logger.debug("edit of message %s, which the bot did not answer", message.message_id)
            return
        answered = await self._screen_and_answer(update, context, message.text or "")
        if answered is None:
            return
        question, reply = answered
        shown = await edit_reply(context.bot, chat.id, noted["bot"], reply)
        if context.chat_data is not None:
            remember(context.chat_data, message.message_id, shown, question)

    # ----- buttons -----

    async def show_entry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A question button (q:<entry>): its answer as a new message."""
        query = update.callback_query
        assert query is not None
        entry_id = (query.data or "").removeprefix("q:")
        if entry_id not in self.engine.kb.entries:
            await query.answer(texts.BUTTON_EXPIRED)
            return
        await query.answer()
        if (query.message is not None and is_suggestion(query.message)
                and first_feedback(context.chat_data if context.chat_data is not None else {},
                                   query.message.message_id, f"pick-{entry_id}", query.from_user.id)):
            # Counted once per user and choice: pressing the same suggestion again is no new signal.
            question = question_for(context.chat_data or {}, query.message.message_id)
            self.emit(update, SUGGESTION_CHOSEN, question, chosen_entry_id=entry_id)
        await self._send(update, context, self.engine.entry_reply(entry_id))

    async def show_topic(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A topic button (t:<category>) or 浏览话题 (topics): the menu, edited in place."""
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        category = (query.data or "").removeprefix("t:")
        reply = self.engine.topic(category) if query.data != "topics" else None
        await edit_reply(context.bot, query.message.chat.id, [query.message.message_id],
                         reply or self.engine.topics())

    async def none_of_these(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """都不是: what the bot cannot answer and where to ask instead; noted (once) as feedback."""
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        self.record_feedback(update, context, NONE_OF_THESE, None, query.message.message_id)
        await self._send(update, context, self.engine.none_of_these())

    async def vote(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """👍/👎 under an answer (fb:+:<entry> / fb:-:<entry>): recorded once, thanked, then gone."""
        query = update.callback_query
        assert query is not None and query.message is not None
        sign, _, entry_id = (query.data or "").removeprefix(FEEDBACK_PREFIX).partition(":")
        if sign not in VOTES or entry_id not in self.engine.kb.entries:
            await query.answer(texts.BUTTON_EXPIRED)
            return
        new = self.record_feedback(update, context, VOTES[sign], entry_id, query.message.message_id)
        await query.answer(msg.FEEDBACK_THANKS if new else texts.FEEDBACK_ALREADY)
        if isinstance(query.message, Message):
            await drop_button_rows(context.bot, query.message, FEEDBACK_PREFIX)

    def record_feedback(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str, entry_id: str | None,
        bot_message_id: int,
    ) -> bool:
        """Record 👍/👎 (one per user and answer) or 都不是 (one per user and message).

        Returns whether it was recorded: False for a user's second press on the same message.
        """
        user, chat = update.effective_user, update.effective_chat
        if user is not None and context.chat_data is not None and not first_feedback(
                context.chat_data, bot_message_id, VOTE if kind in VOTES.values() else kind, user.id):
            logger.info("%s feedback on message %s given again by the same user: not recorded",
                        kind, bot_message_id)
            return False
        question = question_for(context.chat_data or {}, bot_message_id)
        try:
            self.feedback.record(kind, entry_id, user.id if user else None,
                                 chat.type if chat else None, question)
        except Exception:  # a failing store must not cost the user the answer
            logger.exception("could not record %s feedback", kind)
        return True

    async def stale_dialogue_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A dialogue button (d:…) from a dialogue that has ended."""
        assert update.callback_query is not None
        await update.callback_query.answer(msg.FLOW_ENDED)

    async def unknown_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any other button, e.g. from an older version of the bot."""
        assert update.callback_query is not None
        await update.callback_query.answer(texts.BUTTON_EXPIRED)

