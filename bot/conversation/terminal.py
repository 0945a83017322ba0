"""The terminal surface: lines in, the core's replies out as text, buttons as numbers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..analytics import CLI
from ..engine.normalize import compact
from ..engine.reply import Reply, ReplyKind
from .core import Conversation, Out, Pressed, Show, UserState, Who


@dataclass
class TerminalMemory:
    """The terminal's chat memory: feedback given and the question each reply answered."""

    given: set[tuple[str, int, int | None]] = field(default_factory=set)
    questions: dict[int, str] = field(default_factory=dict)

    def first(self, key: str, message_id: int, user_id: int | None) -> bool:
        """Note that the user gave `key` on the message; False if they already had."""
        if (key, message_id, user_id) in self.given:
            return False
        self.given.add((key, message_id, user_id))
        return True

    def question_for(self, message_id: int) -> str:
        """The question a reply answered."""
        return self.questions.get(message_id, "")


def render(reply: Reply, numbered_from: int = 1) -> str:
    """A reply as terminal text, buttons numbered so they can be chosen by typing the number."""
    lines = [reply.text]
    n = numbered_from
    for row in reply.buttons:
        cells = []
        for button in row:
            cells.append(f"[{n}] {button.label}")
            n += 1
        lines.append("  " + "   ".join(cells))
    return "\n".join(lines)


class TerminalChat:
    """One user's chat in the terminal, driving the conversation core.

    A number, or a label typed in full, presses one of the buttons just shown; anything else is
    text, as in a chat.
    """

    def __init__(self, conversation: Conversation, user_id: int | None = None) -> None:
        self.conversation = conversation
        self.user = UserState()
        self.who = Who(user_id, CLI)
        self.memory = TerminalMemory()
        self._ids = itertools.count(1)
        self.buttons: list[Pressed] = []  # the buttons just shown, by number
        self.labels: dict[str, Pressed] = {}  # compact label → the button just shown with it

    def handle(self, line: str) -> list[Out]:
        """The replies to one line typed by the user."""
        text = line.strip()
        if not text:
            return []
        number = text.isascii() and text.isdigit()  # not ① or ²: int() refuses those
        if number and 1 <= int(text) <= len(self.buttons):
            return self.press(self.buttons[int(text) - 1])
        if number and self.buttons and len(text) <= 2:
            hint = f"没有这个选项,请输入 1–{len(self.buttons)} 之间的数字。"
            return [Out(Reply(hint, kind=ReplyKind.NOTICE), Show.TOAST)]
        if compact(text) in self.labels:
            return self.press(self.labels[compact(text)])
        if text.startswith("/"):
            name, _, arg = text[1:].partition(" ")
            return self._shown(self.conversation.command(self.user, self.who, name.split("@")[0],
                                                         arg.strip()))
        return self._shown(self.conversation.text(self.user, self.who, text))

    def press(self, pressed: Pressed) -> list[Out]:
        """Press a button."""
        return self._shown(self.conversation.press(self.user, self.who, pressed, self.memory))

    def _shown(self, outs: list[Out]) -> list[Out]:
        """Number the buttons of the replies that are shown as messages."""
        messages = [o for o in outs if o.show not in (Show.TOAST, Show.DROP_VOTES)]
        if messages:
            self.buttons, self.labels = [], {}
        for out in messages:
            message_id = next(self._ids)
            if out.question is not None:
                self.memory.questions[message_id] = out.question
            suggestion = out.reply.kind is ReplyKind.SUGGEST
            for button in out.reply.flat_buttons():
                pressed = Pressed(button.action, message_id, suggestion)
                self.buttons.append(pressed)
                self.labels.setdefault(compact(button.label), pressed)
        return outs

    def text_of(self, outs: list[Out]) -> str:
        """The replies as the terminal prints them."""
        parts: list[str] = []
        n = 1  # the buttons of one turn's replies are numbered together
        for out in outs:
            if out.show is Show.DROP_VOTES:
                continue
            if out.show is Show.TOAST:
                parts.append(f"({out.reply.body})")
                continue
            parts.append(render(out.reply, n))
            n += len(out.reply.flat_buttons())
        return "\n\n".join(parts)
