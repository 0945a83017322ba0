"""Button actions: what a button does, built and parsed in this one module.

A button carries its action encoded as a short string (Telegram's callback_data, at most 64
bytes); every surface parses it back into one of the dataclasses below. Dialogue buttons carry
the dialogue they belong to (a nonce) and the turn of the step they were shown on, so that a
double tap or an old button never applies a choice to a later step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_ENCODED_BYTES = 64  # Telegram's limit on callback_data


class Move(StrEnum):
    """What a dialogue button does to the dialogue."""

    CHOOSE = "c"  # pick option `option` of the step
    NEXT = "next"  # the next page of a walk-through
    BACK = "back"
    SKIP = "skip"
    CANCEL = "cancel"
    RESUME = "resume"  # show the current step again (under an answer given mid-dialogue)


@dataclass(frozen=True)
class ShowEntry:
    """Show one knowledge entry's answer."""

    entry_id: str


@dataclass(frozen=True)
class ShowTopic:
    """Show the questions of one topic; `category` None: the topic menu itself."""

    category: str | None = None


@dataclass(frozen=True)
class StartFlow:
    """Start a guided dialogue."""

    flow_id: str


@dataclass(frozen=True)
class NoneOfThese:
    """None of the "did you mean" suggestions fits."""


@dataclass(frozen=True)
class Vote:
    """👍 (up) or 👎 (not up) under an answer."""

    up: bool
    entry_id: str


@dataclass(frozen=True)
class DialogueMove:
    """A button of a running dialogue, valid only on the step (turn) it was shown on."""

    nonce: str
    turn: int
    move: Move
    option: int = -1  # the option's index for Move.CHOOSE

    def label(self) -> str:
        """The move as logged."""
        return f"{self.move}{self.option}" if self.move is Move.CHOOSE else str(self.move)


@dataclass(frozen=True)
class AutoAnswer:
    """A group setting button: turn auto-answer on or off."""

    on: bool


Action = ShowEntry | ShowTopic | StartFlow | NoneOfThese | Vote | DialogueMove | AutoAnswer

_TOPICS, _NONE, _ON, _OFF = "topics", "none", "gs:auto:on", "gs:auto:off"


def encode(action: Action) -> str:
    """The action as a button carries it."""
    match action:
        case ShowEntry(entry_id):
            data = f"q:{entry_id}"
        case ShowTopic(None):
            data = _TOPICS
        case ShowTopic(category):
            data = f"t:{category}"
        case StartFlow(flow_id):
            data = f"flow:{flow_id}"
        case NoneOfThese():
            data = _NONE
        case Vote(up, entry_id):
            data = f"fb:{'+' if up else '-'}:{entry_id}"
        case DialogueMove(nonce, turn, move, option):
            verb = str(option) if move is Move.CHOOSE else str(move)
            data = f"d:{nonce}:{turn}:{verb}"
        case AutoAnswer(on):
            data = _ON if on else _OFF
    if len(data.encode()) > MAX_ENCODED_BYTES:
        raise ValueError(f"button action too long for Telegram: {data!r}")
    return data


def parse(data: str | None) -> Action | None:
    """The action a button carried; None for anything this version of the bot never made."""
    if not data:
        return None
    if data == _TOPICS:
        return ShowTopic(None)
    if data == _NONE:
        return NoneOfThese()
    if data in (_ON, _OFF):
        return AutoAnswer(data == _ON)
    head, _, rest = data.partition(":")
    if not rest:
        return None
    if head == "q":
        return ShowEntry(rest)
    if head == "t":
        return ShowTopic(rest)
    if head == "flow":
        return StartFlow(rest)
    if head == "fb":
        sign, _, entry_id = rest.partition(":")
        return Vote(sign == "+", entry_id) if sign in ("+", "-") and entry_id else None
    if head == "d":
        return _dialogue(rest)
    return None


def _dialogue(rest: str) -> DialogueMove | None:
    parts = rest.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    nonce, turn, verb = parts[0], int(parts[1]), parts[2]
    if verb.isdigit():
        return DialogueMove(nonce, turn, Move.CHOOSE, int(verb))
    try:
        return DialogueMove(nonce, turn, Move(verb))
    except ValueError:
        return None


def is_dialogue(data: str | None) -> bool:
    """Whether button data belongs to a dialogue (of any version of the bot)."""
    return bool(data) and str(data).startswith("d:")
