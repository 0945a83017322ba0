"""One conversation core for every chat surface: the terminal and Telegram only translate input
into these calls and render the replies (where each goes is said by `Show`).

It screens text for ID/card numbers and passwords, answers small talk and free questions through
the engine, runs commands and the guided dialogue (start, step, back, cancel, resume, timeout),
acts on buttons, and records questions, choices and feedback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Protocol

from ..analytics import MAX_QUESTION_CHARS, VOTES, EventKind, EventSink, FeedbackSink, kind_of
from ..engine import messages as msg
from ..engine import sensitive
from ..engine.actions import (
    AutoAnswer,
    DialogueMove,
    Move,
    NoneOfThese,
    ShowEntry,
    ShowTopic,
    StartFlow,
    Vote,
    is_dialogue,
    parse,
)
from ..engine.dialogue import (
    DEFAULT_DIALOGUE_TIMEOUT,
    Dialogues,
    DialogueState,
    notice,
    with_resume,
)
from ..engine.engine import Engine
from ..engine.matcher import Match
from ..engine.normalize import compact
from ..engine.reply import Reply, ReplyKind

logger = logging.getLogger(__name__)

MIN_QUESTION_CHARS = 4  # what must be left beside a hidden number to be answered as a question
FLOW_ID = "bind"  # the dialogue of /bind
CANCEL_WORDS = frozenset(msg.FLOW_CANCEL_WORDS)  # typed during a dialogue: stop
RESUME_WORDS = frozenset(msg.FLOW_RESUME_WORDS)  # typed during a dialogue: show the step again


class Show(Enum):
    """Where a surface shows a reply."""

    NEW = auto()  # a new message at the bottom of the chat
    QUOTE = auto()  # a new message quoting the user's message (warnings)
    IN_PLACE = auto()  # in place of the message whose button was pressed
    TOAST = auto()  # a short notice about the button (Telegram: answerCallbackQuery)
    DROP_VOTES = auto()  # take the 👍/👎 buttons off the pressed message (no text)


@dataclass(frozen=True)
class Out:
    """One reply and where it goes; `question` is the question it answers, if any."""

    reply: Reply
    show: Show = Show.NEW
    question: str | None = None


@dataclass(frozen=True)
class Who:
    """Who is talking, as analytics records it."""

    user_id: int | None
    chat_type: str | None


@dataclass
class UserState:
    """What the core keeps for one user between turns (a surface stores it as it likes)."""

    dialogue: DialogueState | None = None


class Memory(Protocol):
    """Per chat: who already gave which feedback on which message, and what a message answered."""

    def first(self, key: str, message_id: int, user_id: int | None) -> bool:
        """Note that the user gave `key` on the message; False if they already had."""

    def question_for(self, message_id: int) -> str:
        """The question a bot message answered, if still remembered ("" otherwise)."""


@dataclass(frozen=True)
class Pressed:
    """A button press: its data, the message it is under, and whether that is a "did you mean"."""

    data: str
    message_id: int
    suggestion: bool = False


@dataclass(frozen=True)
class Loaded:
    """An engine and its dialogue runner, swapped together by a reload."""

    engine: Engine
    dialogues: Dialogues


class EngineRef:
    """The engine in service; a reload swaps it between two turns in one assignment."""

    def __init__(self, engine: Engine) -> None:
        self._loaded = Loaded(engine, Dialogues(engine))

    @property
    def engine(self) -> Engine:
        """The engine answering questions now."""
        return self._loaded.engine

    @property
    def dialogues(self) -> Dialogues:
        """The dialogue runner over the same knowledge base."""
        return self._loaded.dialogues

    def swap(self, engine: Engine) -> Engine:
        """Put `engine` in service; returns the old one."""
        old = self._loaded.engine
        self._loaded = Loaded(engine, Dialogues(engine))
        return old


def screen(text: str) -> tuple[Reply | None, str | None]:
    """A warning if the text holds an ID/card/phone number or a password, and the question left
    once that is removed (None when too little is left to be a question)."""
    findings = sensitive.find(text)
    warning = sensitive.warning_for(findings)
    if warning is None:
        return None, text
    rest = sensitive.remove(text)
    question = rest if len(compact(rest)) >= MIN_QUESTION_CHARS else None
    return Reply(warning, kind=ReplyKind.WARNING), question


class Conversation:
    """The conversation with one user at a time, the same on every surface."""

    def __init__(
        self,
        engine: Engine | EngineRef,
        feedback: FeedbackSink,
        events: EventSink | None = None,
        timeout: float = DEFAULT_DIALOGUE_TIMEOUT,
        on_question: Callable[[EventKind], None] | None = None,
    ) -> None:
        self.ref = engine if isinstance(engine, EngineRef) else EngineRef(engine)
        self.feedback_sink = feedback
        self.events = events
        self.timeout = timeout
        self.on_question = on_question  # e.g. counting outcomes for /healthz

    @property
    def engine(self) -> Engine:
        """The engine in service."""
        return self.ref.engine

    def look_up(self, text: str) -> tuple[Reply, Match | None]:
        """The engine's reply to free text and the match behind it, not recorded."""
        return self.ref.dialogues.answer(text)

    # ----- recording -----

    def emit(self, who: Who, kind: EventKind, question: str, *, entry_id: str | None = None,
             chosen_entry_id: str | None = None, score: float | None = None) -> None:
        """Queue one analytics event; a failing store is logged and never fails the turn."""
        if self.events is None:
            return
        try:
            self.events.record_nowait(kind, chat_type=who.chat_type, user_id=who.user_id,
                                      question=question, entry_id=entry_id,
                                      chosen_entry_id=chosen_entry_id, score=score)
        except Exception:
            logger.exception("analytics: could not record a %s event", kind)

    def record_question(self, who: Who, reply: Reply, question: str) -> None:
        """Record what became of a free-text question (small talk and menus are not recorded)."""
        kind = kind_of(reply)
        if kind is None:
            return
        if self.on_question is not None:
            self.on_question(kind)
        self.emit(who, kind, question, entry_id=reply.entry_id if reply.answered else None,
                  score=reply.score)

    def give_feedback(self, who: Who, kind: EventKind, entry_id: str | None, message_id: int,
                      memory: Memory) -> bool:
        """Record 👍/👎 (one vote per user and answer) or 都不是 (once per user and message);
        False for a second press by the same user."""
        key = "vote" if kind in VOTES else str(kind)
        if not memory.first(key, message_id, who.user_id):
            logger.info("%s feedback on message %s given again by the same user: not recorded",
                        kind, message_id)
            return False
        try:
            self.feedback_sink.record(kind, entry_id, who.user_id, who.chat_type,
                                      memory.question_for(message_id))
        except Exception:  # a failing store must not cost the user the answer
            logger.exception("could not record %s feedback", kind)
        return True

    def chose_suggestion(self, who: Who, entry_id: str, pressed: Pressed, memory: Memory) -> None:
        """A "did you mean" choice, recorded once per user and choice."""
        if pressed.suggestion and memory.first(f"pick-{entry_id}", pressed.message_id, who.user_id):
            self.emit(who, EventKind.SUGGESTION_CHOSEN, memory.question_for(pressed.message_id),
                      chosen_entry_id=entry_id)

    # ----- answers -----

    def answer(self, who: Who, question: str) -> tuple[Reply, Match | None]:
        """The engine's reply to a free question (matched once), recorded for curators."""
        question = question[:MAX_QUESTION_CHARS]
        reply, match = self.look_up(question)
        self.record_question(who, reply, question)
        logger.info("%s chat: %r → %s %s (%.2f)", who.chat_type, question, reply.kind,
                    reply.entry_id or "-", reply.score)
        return reply, match

    def question(self, who: Who, text: str) -> list[Out]:
        """A question outside any dialogue (an edited message): a warning about numbers in it,
        then the answer to the rest."""
        warning, question = screen(text)
        out = [Out(warning, Show.QUOTE)] if warning is not None else []
        if question is None:
            return out
        reply, _ = self.answer(who, question)
        return [*out, Out(reply, question=question[:MAX_QUESTION_CHARS])]

    def text(self, user: UserState, who: Who, text: str) -> list[Out]:
        """A typed message: the dialogue's input, 继续/取消, or a question (kept in the dialogue)."""
        out = self._expire_if_idle(user)
        warning, question = screen(text)
        if warning is not None:
            out.append(Out(warning, Show.QUOTE))
        if question is None:
            return out
        state = user.dialogue
        if state is not None:
            word = question.strip()
            if word in CANCEL_WORDS:
                return out + self.cancel(user)
            if word in RESUME_WORDS:
                state.updated = time.time()
                return [*out, Out(self.ref.dialogues.render(state))]
            handled = self.ref.dialogues.text(state, question)
            if handled is not None:
                reply, user.dialogue = handled
                return [*out, Out(reply)]
        reply, _ = self.answer(who, question)
        if state is not None:
            state.updated = time.time()  # asking is activity too: the idle clock starts again
            reply = with_resume(reply, state)
        return [*out, Out(reply, question=question[:MAX_QUESTION_CHARS])]

    # ----- commands -----

    def command(self, user: UserState, who: Who, name: str, arg: str = "") -> list[Out]:
        """A slash command: start, help, topics/faq, bind, cancel, ask."""
        name = name.lower()
        if name == "bind" or (name == "start" and arg.strip() == FLOW_ID):
            return self.start_flow(user, FLOW_ID)
        if name == "start":
            return [Out(self.engine.greeting())]
        if name == "help":
            return [Out(self.engine.help())]
        if name in ("topics", "faq"):
            return [Out(self.engine.topics())]
        if name == "cancel":
            return self.cancel(user)
        if name == "ask":
            return self.text(user, who, arg) if compact(arg) else [
                Out(Reply(msg.ASK_USAGE, kind=ReplyKind.MENU))]
        return [Out(Reply(msg.UNKNOWN_COMMAND, kind=ReplyKind.MENU))]

    def start_flow(self, user: UserState, flow_id: str) -> list[Out]:
        """Begin a guided dialogue (replacing one that is running)."""
        if flow_id not in self.ref.dialogues.flows:
            return [Out(Reply(msg.FLOW_ENDED, kind=ReplyKind.DIALOGUE))]
        reply, user.dialogue = self.ref.dialogues.start(flow_id)
        return [Out(reply)]

    def cancel(self, user: UserState) -> list[Out]:
        """/cancel or 取消: leave the dialogue."""
        had, user.dialogue = user.dialogue is not None, None
        return [Out(Reply(msg.FLOW_CANCELLED if had else msg.NOTHING_TO_CANCEL,
                          kind=ReplyKind.DIALOGUE))]

    def expire(self, user: UserState) -> list[Out]:
        """The dialogue sat idle too long (a surface's timer): end it and say so."""
        if user.dialogue is None:
            return []
        user.dialogue = None
        return [Out(Reply(msg.FLOW_TIMEOUT, kind=ReplyKind.DIALOGUE))]

    def _expire_if_idle(self, user: UserState) -> list[Out]:
        if user.dialogue is not None and self.ref.dialogues.expired(user.dialogue, self.timeout):
            return self.expire(user)
        return []

    # ----- buttons -----

    def press(self, user: UserState, who: Who, pressed: Pressed, memory: Memory) -> list[Out]:
        """A button under one of the bot's messages."""
        action = parse(pressed.data)
        match action:
            case DialogueMove():
                return self._dialogue_press(user, action)
            case ShowEntry(entry_id) if entry_id in self.engine.kb.entries:
                self.chose_suggestion(who, entry_id, pressed, memory)
                return [Out(self.engine.entry_reply(entry_id))]
            case ShowTopic(None):
                return [Out(self.engine.topics(), Show.IN_PLACE)]
            case ShowTopic(str() as category) if (topic := self.engine.topic(category)) is not None:
                return [Out(topic, Show.IN_PLACE)]  # an unknown topic falls through: a toast
            case StartFlow(flow_id):
                return self.start_flow(user, flow_id)
            case NoneOfThese():
                if not self.give_feedback(who, EventKind.NONE_OF_THESE, None, pressed.message_id,
                                          memory):  # pressed again: the pointer was sent once
                    return [Out(notice(msg.FEEDBACK_ALREADY), Show.TOAST)]
                return [Out(self.engine.none_of_these())]
            case Vote(up, entry_id) if entry_id in self.engine.kb.entries:
                kind = EventKind.FEEDBACK_UP if up else EventKind.FEEDBACK_DOWN
                new = self.give_feedback(who, kind, entry_id, pressed.message_id, memory)
                thanks = notice(msg.FEEDBACK_THANKS if new else msg.FEEDBACK_ALREADY)
                return [Out(thanks, Show.TOAST), Out(thanks, Show.DROP_VOTES)]
            case AutoAnswer() | ShowEntry() | ShowTopic() | Vote() | None:
                pass
        text = msg.FLOW_ENDED if is_dialogue(pressed.data) else msg.BUTTON_EXPIRED
        return [Out(notice(text), Show.TOAST)]

    def _dialogue_press(self, user: UserState, move: DialogueMove) -> list[Out]:
        state = user.dialogue
        if state is not None and state.nonce == move.nonce:
            timed_out = self._expire_if_idle(user)
            if timed_out:
                return timed_out
        reply, user.dialogue = self.ref.dialogues.press(state, move)
        if reply.kind is ReplyKind.NOTICE:
            return [Out(reply, Show.TOAST)]
        return [Out(reply, Show.NEW if move.move is Move.RESUME else Show.IN_PLACE)]

