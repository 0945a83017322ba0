"""What the engine says back: text in parts, and buttons that carry a typed action."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .actions import Action, encode, parse


class ReplyKind(StrEnum):
    """What a reply is; surfaces and analytics decide by it."""

    ANSWER = "answer"  # a knowledge entry's answer
    CASE = "case"  # a verdict on a named relative or place
    SUGGEST = "suggest"  # "did you mean", with up to three questions and 都不是
    NONE = "none"  # an honest "not covered"
    SMALLTALK = "smalltalk"  # hello, thanks
    MENU = "menu"  # greeting, help, topics, usage hints
    DIALOGUE = "dialogue"  # a step of a guided dialogue, or its end
    WARNING = "warning"  # the message held an ID/card number or a password
    NOTICE = "notice"  # a short notice about a button (Telegram shows it as a toast)


ANSWERED_KINDS = frozenset({ReplyKind.ANSWER, ReplyKind.CASE})


@dataclass(frozen=True)
class Button:
    """A choice under a reply; `action` is its encoded Action (see actions.py)."""

    label: str
    action: str

    @classmethod
    def of(cls, label: str, action: Action) -> Button:
        """A button doing `action`."""
        return cls(label, encode(action))

    @property
    def parsed(self) -> Action | None:
        """The typed action."""
        return parse(self.action)


@dataclass(frozen=True)
class Reply:
    """One message from the engine, independent of any chat platform."""

    body: str
    title: str = ""  # shown in bold by adapters that can
    footer: str = ""  # source and date, shown smaller by adapters that can
    buttons: tuple[tuple[Button, ...], ...] = ()
    kind: ReplyKind = ReplyKind.ANSWER
    entry_id: str | None = None
    score: float = 0.0
    suggestions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The whole reply as plain text."""
        return "\n\n".join(part for part in (self.title, self.body, self.footer) if part)

    @property
    def answered(self) -> bool:
        """Whether the reply answers from the knowledge base (an entry or a verdict)."""
        return self.kind in ANSWERED_KINDS

    def flat_buttons(self) -> list[Button]:
        """Buttons in reading order, as the terminal numbers them."""
        return [b for row in self.buttons for b in row]


def rows(buttons: list[Button], per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out in rows of `per_row`."""
    return tuple(tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row))
