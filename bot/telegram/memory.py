"""What the bot keeps per user and per chat (persistence.py stores both), typed for PTB's
ContextTypes: the user's dialogue, and a chat's answered questions and the feedback given."""

from __future__ import annotations

import time
from typing import Any

from telegram import Message
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from ..conversation import UserState
from ..engine.dialogue import DialogueState
from ..engine.reply import ReplyKind
from ..engine.sensitive import redact
from .render import is_suggestion

STATE_KEY = "dialogue"  # user_data: DialogueState.to_dict(), plain data for the pickle
MESSAGE_KEY = "dialogue_message"  # user_data: [chat id, message id] of the step on screen
# chat_data: {user message id: {"bot": [bot message ids], "q": question, "t": unix time}}; the
# question is stored with sensitive numbers redacted.
REPLIES_KEY = "replies"
REPLY_MEMORY = 200  # per chat: questions whose replies are remembered so that edits can follow
REPLY_TTL_S = 48 * 3600  # … for this long: an edit after two days gets a new reply instead
FEEDBACK_KEY = "feedback_given"  # chat_data: {"<kind>:<bot message id>": [user ids]}
FEEDBACK_MEMORY = 200  # per chat: bot messages whose 👍/👎 and 都不是 givers are remembered
SETTINGS_KEY = "group_settings"  # chat_data of a group: {"auto_answer": bool}
AUTO_ANSWER = "auto_answer"
ANSWERED_KEY = "answered"  # chat_data of a group: {entry id: [unix time, bot message id]}
ASKERS_KEY = "askers"  # chat_data of a group: {bot message id: [user id it answered, reply kind]}
ASKER_MEMORY = 200  # bot messages per group whose asker is remembered


class UserData(dict[str, Any]):
    """A user's data: the dialogue under way and the message its step is shown in."""

    def load(self) -> UserState:
        """The user's conversation state."""
        data = self.get(STATE_KEY)
        return UserState(DialogueState.from_dict(data) if isinstance(data, dict) else None)

    def save(self, user: UserState) -> None:
        """Keep the user's conversation state (a finished dialogue leaves nothing behind)."""
        if user.dialogue is None:
            self.pop(STATE_KEY, None)
        else:
            self[STATE_KEY] = user.dialogue.to_dict()

    @property
    def step_message(self) -> tuple[int, int] | None:
        """(chat id, message id) of the dialogue step on screen."""
        ref = self.get(MESSAGE_KEY)
        return (int(ref[0]), int(ref[1])) if ref else None

    @step_message.setter
    def step_message(self, ref: tuple[int, int] | None) -> None:
        if ref is None:
            self.pop(MESSAGE_KEY, None)
        else:
            self[MESSAGE_KEY] = list(ref)


class ChatData(dict[str, Any]):
    """A chat's data: which bot messages answered which question, and who gave which feedback.

    It is the conversation core's Memory for the chat.
    """

    def remember(self, message_id: int, bot_ids: list[int], question: str) -> None:
        """Note which bot messages answered a user's message, forgetting the oldest past the limit."""
        replies = self.setdefault(REPLIES_KEY, {})
        replies[message_id] = {"bot": bot_ids, "q": redact(question), "t": time.time()}
        while len(replies) > REPLY_MEMORY:
            del replies[next(iter(replies))]

    def expire(self, now: float, ttl: float = REPLY_TTL_S) -> None:
        """Forget questions older than `ttl`. One noted by an older version (no time, the question
        unredacted) counts from now, its numbers redacted."""
        replies = self.get(REPLIES_KEY)
        if not replies:
            return
        for noted in replies.values():
            if "t" not in noted:
                noted["t"], noted["q"] = now, redact(str(noted.get("q", "")))
        old = [k for k, noted in replies.items() if now - float(noted["t"]) >= ttl]
        for key in old:
            del replies[key]

    def replies_to(self, message_id: int) -> list[int] | None:
        """The bot messages that answered a user's message, if remembered."""
        noted = self.get(REPLIES_KEY, {}).get(message_id)
        return list(noted["bot"]) if noted is not None else None

    def question_for(self, message_id: int) -> str:
        """The question a bot message answered, if it is still remembered."""
        for noted in self.get(REPLIES_KEY, {}).values():
            if message_id in noted["bot"]:
                return str(noted["q"])
        return ""

    def first(self, key: str, message_id: int, user_id: int | None) -> bool:
        """Note that a user gave `key` feedback on a bot message; False if they already had."""
        given = self.setdefault(FEEDBACK_KEY, {})
        users = given.setdefault(f"{key}:{message_id}", [])
        if user_id in users:
            return False
        users.append(user_id)
        while len(given) > FEEDBACK_MEMORY:
            del given[next(iter(given))]
        return True

    # ----- groups -----

    @property
    def auto_answer(self) -> bool:
        """Whether the group's admins turned auto-answer on (it is off by default)."""
        return bool(self.get(SETTINGS_KEY, {}).get(AUTO_ANSWER, False))

    @auto_answer.setter
    def auto_answer(self, on: bool) -> None:
        self.setdefault(SETTINGS_KEY, {})[AUTO_ANSWER] = on

    def note_asker(self, bot_message_id: int, user_id: int, kind: str) -> None:
        """Remember whom a bot message answers, so that only they change it with its buttons."""
        askers = self.setdefault(ASKERS_KEY, {})
        askers[bot_message_id] = [user_id, kind]
        while len(askers) > ASKER_MEMORY:
            del askers[next(iter(askers))]

    def asker_of(self, message: Message) -> tuple[int | None, str]:
        """Who a bot message answers and its kind; falls back to the message it quotes and its
        buttons."""
        noted = self.get(ASKERS_KEY, {}).get(message.message_id)
        if noted is not None:
            return int(noted[0]), str(noted[1])
        kind = ReplyKind.SUGGEST if is_suggestion(message) else ""
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
            return replied.from_user.id, kind
        return None, kind

    def note_answered(self, entry_id: str, bot_message_id: int, cooldown: float) -> None:
        """Remember when an entry was answered in the group, forgetting answers past the cooldown."""
        now = time.time()
        answered = {k: v for k, v in self.get(ANSWERED_KEY, {}).items() if now - v[0] < cooldown}
        answered[entry_id] = [now, bot_message_id]
        self[ANSWERED_KEY] = answered

    def forget_messages(self) -> None:
        """Forget the bot messages noted (after a migration they belong to the old chat): the
        settings stay; the cooldown and buttons start afresh in the new chat."""
        for key in (ANSWERED_KEY, ASKERS_KEY, REPLIES_KEY, FEEDBACK_KEY):
            self.pop(key, None)

    def recent_answer(self, entry_id: str, cooldown: float) -> int | None:
        """The bot message that answered the entry within the cooldown, if any."""
        noted = self.get(ANSWERED_KEY, {}).get(entry_id)
        if noted is None or time.time() - noted[0] >= cooldown:
            return None
        return int(noted[1])


Context = CallbackContext[ExtBot[None], UserData, ChatData, dict[Any, Any]]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
CONTEXT_TYPES = ContextTypes(context=CallbackContext, user_data=UserData, chat_data=ChatData)


def typed(data: dict[Any, dict[str, Any]], kind: type[UserData] | type[ChatData]) -> dict[Any, Any]:
    """Persisted data as the typed class (a state written by an older version holds plain dicts)."""
    return {key: value if isinstance(value, kind) else kind(value) for key, value in data.items()}
