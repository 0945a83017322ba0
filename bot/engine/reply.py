"""What the engine says back: text in parts, and buttons that carry an action string."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Button:
    """A choice under a reply; `action` is what the adapter sends back when it is pressed."""

    label: str
    action: str


@dataclass(frozen=True)
class Reply:
    """One message from the engine, independent of any chat platform."""

    body: str
    title: str = ""  # shown in bold by adapters that can
    footer: str = ""  # source and date, shown smaller by adapters that can
    buttons: tuple[tuple[Button, ...], ...] = ()
    kind: str = "answer"  # answer | case | suggest | none | smalltalk | menu | dialogue
    entry_id: str | None = None
    score: float = 0.0
    suggestions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The whole reply as plain text."""
        return "\n\n".join(part for part in (self.title, self.body, self.footer) if part)

    def flat_buttons(self) -> list[Button]:
        """Buttons in reading order, as the terminal numbers them."""
        return [b for row in self.buttons for b in row]


def rows(buttons: list[Button], per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out in rows of `per_row`."""
    return tuple(tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row))
