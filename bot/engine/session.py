"""One user's conversation: free questions, button actions and an optional running dialogue."""

from __future__ import annotations

from dataclasses import dataclass

from . import messages as msg
from .dialogue import DEFAULT_DIALOGUE_TIMEOUT, Dialogues, DialogueState, with_resume
from .engine import Engine
from .reply import Reply


@dataclass
class Session:
    """Routes a user's messages and button presses to the engine and the dialogue runner."""

    engine: Engine
    dialogues: Dialogues
    state: DialogueState | None = None
    timeout: float = DEFAULT_DIALOGUE_TIMEOUT

    def command(self, name: str, arg: str = "") -> list[Reply]:
        """A slash command: start, help, topics, bind, cancel, ask."""
        if name == "start" and arg == "bind" or name == "bind":
            return self.start_flow("bind")
        if name == "start":
            return [self.engine.greeting()]
        if name == "help":
            return [self.engine.help()]
        if name in ("topics", "faq"):
            return [self.engine.topics()]
        if name == "cancel":
            had = self.state is not None
            self.state = None
            return [Reply(msg.FLOW_CANCELLED if had else msg.NOTHING_TO_CANCEL, kind="dialogue")]
        if name == "ask":
            return self.text(arg) if arg else [Reply(msg.ASK_USAGE, kind="menu")]
        return [Reply(msg.UNKNOWN_COMMAND, kind="menu")]

    def start_flow(self, flow_id: str) -> list[Reply]:
        """Begin a guided dialogue (replacing one that is running)."""
        if flow_id not in self.dialogues.flows:
            return [Reply(msg.FLOW_ENDED, kind="dialogue")]
        reply, self.state = self.dialogues.start(flow_id)
        return [reply]

    def _check_timeout(self) -> list[Reply]:
        if self.state is not None and self.dialogues.expired(self.state, self.timeout):
            self.state = None
            return [Reply(msg.FLOW_TIMEOUT, kind="dialogue")]
        return []

    def text(self, text: str) -> list[Reply]:
        """A typed message: dialogue input if it answers the current step, else a question."""
        out = self._check_timeout()
        if self.state is not None:
            if text.strip() in msg.FLOW_RESUME_WORDS:
                return [self.dialogues.render(self.state)]
            if text.strip() in msg.FLOW_CANCEL_WORDS:
                return self.command("cancel")
            handled = self.dialogues.text(self.state, text)
            if handled is not None:
                reply, self.state = handled
                return [*out, reply]
            answer = self.engine.answer(text)
            if self.state is not None:
                answer = with_resume(answer, self.state)
            return [*out, answer]
        return [*out, self.engine.answer(text)]

    def action(self, action: str) -> list[Reply]:
        """A button press, identified by the action string the engine put on the button."""
        kind, _, rest = action.partition(":")
        if kind == "d":
            out = self._check_timeout()
            reply, self.state = self.dialogues.press(self.state, action)
            return [*out, reply]
        if kind == "q":
            if rest in self.engine.kb.entries:
                return [self.engine.entry_reply(rest)]
            return [Reply(msg.STALE_BUTTON, kind="menu")]
        if kind == "t":
            topic = self.engine.topic(rest)
            return [topic] if topic else [self.engine.topics()]
        if kind == "topics":
            return [self.engine.topics()]
        if kind == "flow":
            return self.start_flow(rest)
        if kind == "none":
            return [self.engine.none_of_these()]
        if kind == "fb":
            return [Reply(msg.FEEDBACK_THANKS, kind="smalltalk")]
        return [Reply(msg.FLOW_ENDED, kind="dialogue")]
