"""Guided dialogues (knowledge/flows/*.yaml, loaded by flows.py), run step by step for any surface."""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import messages as msg
from .actions import DialogueMove, Move
from .cases import Place, Relation
from .flows import Comparison, Flow, InputKind, Option, Step, StepKind, check_flows, load_flows
from .normalize import compact
from .reply import Button, Reply, ReplyKind, rows

if TYPE_CHECKING:
    from .engine import Engine
    from .matcher import Match

__all__ = ["DEFAULT_DIALOGUE_TIMEOUT", "DialogueState", "Dialogues", "check_flows", "with_resume"]

DEFAULT_DIALOGUE_TIMEOUT = 15 * 60.0  # seconds of silence after which a dialogue ends
# Typed text this much longer than the relative or place it names may be a question of its own.
ANSWER_EXTRA_CHARS = 6

Result = tuple[Reply, "DialogueState | None"]


@dataclass
class DialogueState:
    """Where one user is in one dialogue; plain data so it can be persisted."""

    flow: str
    step: str
    page: int = 0
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))
    turn: int = 0  # counts the steps shown; a button is valid only on the turn it was shown on
    answers: dict[str, str] = field(default_factory=dict)
    provinces: dict[str, str] = field(default_factory=dict)  # region step → province given
    pending: list[list[str]] = field(default_factory=list)  # [word, province] for the next region step
    notes: list[str] = field(default_factory=list)  # verdicts to show above the next prompt
    history: list[list[Any]] = field(default_factory=list)  # [step, page] pairs for 上一步
    awaiting_text: bool = False  # an option asked the user to type (其他 → 请输入关系)
    updated: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/pickle-friendly copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DialogueState:
        """Rebuild a state saved with to_dict."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def notice(text: str) -> Reply:
    """A short notice about a button (a toast in Telegram)."""
    return Reply(text, kind=ReplyKind.NOTICE)


def with_resume(reply: Reply, state: DialogueState) -> Reply:
    """An answer given mid-dialogue: the same reply, with a way back to the current step."""
    button = Button.of(msg.FLOW_RESUME_BUTTON, DialogueMove(state.nonce, state.turn, Move.RESUME))
    return dataclasses.replace(
        reply, body=f"{reply.body}\n\n{msg.FLOW_RESUME_HINT}", buttons=(*reply.buttons, (button,))
    )


class Dialogues:
    """Runs the flows of a knowledge base, using the engine for verdicts on relatives and places."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.flows: dict[str, Flow] = load_flows(engine.kb)
        self._last: tuple[str, tuple[Reply, Match | None]] | None = None

    def answer(self, text: str) -> tuple[Reply, Match | None]:
        """The engine's answer to free text, matched once however often it is asked for."""
        if self._last is None or self._last[0] != text:
            self._last = (text, self.engine.answer_and_match(text))
        return self._last[1]

    # ----- entry points -----

    def start(self, flow_id: str) -> tuple[Reply, DialogueState]:
        """Begin a flow at its first step."""
        flow = self.flows[flow_id]
        state = DialogueState(flow=flow_id, step=flow.start)
        if flow.intro:
            state.notes.append(flow.intro)
        return self.render(state), state

    def press(self, state: DialogueState | None, move: DialogueMove) -> Result:
        """A dialogue button; an old one (another dialogue, an earlier step) changes nothing."""
        if state is None or move.nonce != state.nonce:
            return notice(msg.FLOW_ENDED), state
        if not self.valid(state):
            return notice(msg.FLOW_ENDED), None
        if move.move is Move.RESUME:
            state.updated = time.time()
            return self.render(state), state
        if move.turn != state.turn:  # a double tap, or a button of a step already answered
            return notice(msg.FLOW_STEP_DONE), state
        state.updated = time.time()
        step = self._step(state)
        if move.move is Move.CANCEL:
            return Reply(msg.FLOW_CANCELLED, kind=ReplyKind.DIALOGUE), None
        if move.move is Move.BACK:
            return self._back(state)
        if move.move is Move.SKIP and step.skip:
            return self._advance(state, step.next)
        if move.move is Move.NEXT and step.kind is StepKind.STEPS:
            if state.page + 1 < len(step.items):
                state.history.append([state.step, state.page])
                state.page += 1
                return self._shown(state)
            return self._advance(state, step.next)
        if move.move is Move.CHOOSE and step.kind is StepKind.CHOICE and 0 <= move.option < len(step.options):
            return self._choose(state, step, step.options[move.option])
        return self._shown(state)

    def text(self, state: DialogueState, text: str) -> Result | None:
        """Typed text during a flow; None when it is not an answer to the current step."""
        if not self.valid(state):
            return Reply(msg.FLOW_ENDED, kind=ReplyKind.DIALOGUE), None
        step = self._step(state)
        if step.input is None:
            return None
        state.updated = time.time()
        prepared = self.engine.lexicon.prepare(text)
        if step.input is InputKind.RELATIVE:
            relations = self.engine.relatives.find(prepared)
            if self._asks_something_else(text, [r.word for r in relations]):
                return None
            if not relations:
                if not state.awaiting_text:
                    return None
                unknown = msg.FLOW_UNKNOWN_RELATION.format(text=text.strip()[:20])
                state.turn += 1
                return Reply(unknown, buttons=self._buttons(state, step), kind=ReplyKind.DIALOGUE), state
            return self._judge_relatives(state, step, relations, "、".join(r.word for r in relations))
        places = self.engine.regions.find(
            prepared, self.engine.lexicon.boundaries, self.engine.lexicon.is_word)
        if not places or self._asks_something_else(text, [p.word for p in places]):
            return None
        self._take_place(state, step, places[0])
        # "我在苏州,我妈在南京": the next place is the next region step's answer, never this one's.
        state.pending = [[p.word, self._province(p)] for p in places[1:]]
        return self._advance(state, step.next)

    def _asks_something_else(self, text: str, words: list[str]) -> bool:
        """Whether typed text is a question of its own rather than an answer to the step:
        "我妈住院报销比例是多少" names a relative but asks about reimbursement."""
        rest = compact(text)
        for word in words:
            rest = rest.replace(compact(word), "")
        if len(rest) <= ANSWER_EXTRA_CHARS:
            return False
        reply, match = self.answer(text)
        if match is not None and match.oos:
            return True
        # A verdict on the relative or place is an answer to the step, any other answer is not.
        return reply.kind is ReplyKind.ANSWER and reply.entry_id not in (
            self.engine.relatives_id, self.engine.regions_id)

    def valid(self, state: DialogueState) -> bool:
        """Whether a (restored) state still points at a flow and step that exist: a reloaded
        knowledge base may have renamed them."""
        flow = self.flows.get(state.flow)
        return flow is not None and state.step in flow.steps

    def expired(self, state: DialogueState, timeout: float, now: float | None = None) -> bool:
        """Whether a dialogue has been idle for longer than `timeout` seconds."""
        return (now or time.time()) - state.updated > timeout

    # ----- internals -----

    def _step(self, state: DialogueState, name: str | None = None) -> Step:
        return self.flows[state.flow].steps[name or state.step]

    def _shown(self, state: DialogueState) -> tuple[Reply, DialogueState]:
        state.turn += 1
        return self.render(state), state

    def _choose(self, state: DialogueState, step: Step, option: Option) -> Result:
        if option.ask:
            state.awaiting_text = True
            state.turn += 1
            buttons = (self._button(state, msg.FLOW_BACK, Move.RESUME),
                       self._button(state, msg.FLOW_CANCEL, Move.CANCEL))
            return Reply(option.ask, buttons=(buttons,), kind=ReplyKind.DIALOGUE), state
        if step.input is InputKind.RELATIVE:
            words = option.words or (option.label,)
            relations = [r for w in words
                         for r in self.engine.relatives.find(self.engine.lexicon.prepare(w))[:1]]
            if relations:
                return self._judge_relatives(state, step, relations, option.label)
        state.answers[state.step] = option.label
        return self._advance(state, option.next or step.next)

    def _judge_relatives(self, state: DialogueState, step: Step, relations: list[Relation],
                         label: str) -> Result:
        state.awaiting_text = False
        if all(r.near for r in relations):
            state.answers[state.step] = label
            state.notes.extend(self.engine.relation_verdict(r) for r in relations)
            return self._advance(state, step.next)
        # Each verdict in one line, then what to do instead, said once.
        flow = self.flows[state.flow]
        law = self.engine.relatives.law
        heads = [(msg.RELATIVE_YES if r.near else msg.RELATIVE_NO).format(
            word=r.word, law=law, category=r.category, reason=r.note) for r in relations]
        body = "\n".join(heads) + (f"\n\n{flow.not_eligible}" if flow.not_eligible else "")
        buttons = [self.engine.question_button(e) for e in step.entries]
        data = self.engine.kb.relatives
        footer = msg.FOOTER.format(source=data.get("source", ""), as_of=data.get("as_of", ""))
        return Reply(body, buttons=rows(buttons), footer=footer, kind=ReplyKind.DIALOGUE), None

    @staticmethod
    def _province(place: Place) -> str:
        return place.name if place.is_province else place.province

    def _take_place(self, state: DialogueState, step: Step, place: Place | list[str]) -> None:
        word, province = (place if isinstance(place, list)
                          else [place.word, self._province(place)])
        state.answers[state.step] = word
        state.provinces[state.step] = province
        shown = word if not province or word in province else f"{word}({province})"
        state.notes.append(f"📍 {step.summary_label}:{shown}")

    def _advance(self, state: DialogueState, target: str | None) -> Result:
        if target is None:
            return Reply(msg.FLOW_DONE, kind=ReplyKind.DIALOGUE), None
        state.history.append([state.step, state.page])
        state.step, state.page, state.awaiting_text = target, 0, False
        while True:  # steps that answer themselves: a comparison, a place typed earlier
            step = self._step(state)
            if step.kind is StepKind.COMPARE:
                branch = step.branches[self._compare(state, step)]
                state.answers[state.step] = branch.label
                if branch.note:
                    state.notes.append(branch.note.format(
                        province=state.provinces.get(step.places[0], ""),
                        holder_province=state.provinces.get(step.places[0], ""),
                        relative_province=state.provinces.get(step.places[1], "")))
                state.step = branch.next
            elif step.input is InputKind.REGION and state.pending:
                self._take_place(state, step, state.pending.pop(0))
                if step.next is None:
                    break
                state.history.append([state.step, state.page])
                state.step = step.next
            else:
                break
        reply, _ = self._shown(state)
        return reply, None if self._step(state).kind is StepKind.SUMMARY else state

    @staticmethod
    def _compare(state: DialogueState, step: Step) -> Comparison:
        given = [state.provinces.get(name) for name in step.places]
        if len(given) != 2 or not all(given):
            return Comparison.UNKNOWN
        return Comparison.SAME if given[0] == given[1] else Comparison.DIFFERENT

    def _back(self, state: DialogueState) -> Result:
        state.awaiting_text = False
        steps = self.flows[state.flow].steps
        while state.history:
            name, page = state.history.pop()
            if str(name) in steps:
                state.step, state.page = str(name), int(page)
                break
        kept = {str(name) for name, _ in state.history}
        state.answers = {k: v for k, v in state.answers.items() if k in kept}
        state.provinces = {k: v for k, v in state.provinces.items() if k in kept}
        state.pending.clear()
        state.notes.clear()
        return self._shown(state)

    def _button(self, state: DialogueState, label: str, move: Move, option: int = -1) -> Button:
        return Button.of(label, DialogueMove(state.nonce, state.turn, move, option))

    def _buttons(self, state: DialogueState, step: Step) -> tuple[tuple[Button, ...], ...]:
        nav: list[Button] = []
        if state.history:
            nav.append(self._button(state, msg.FLOW_BACK, Move.BACK))
        buttons: list[Button] = []
        per_row = 1
        if step.kind is StepKind.CHOICE:
            buttons = [self._button(state, o.label, Move.CHOOSE, i) for i, o in enumerate(step.options)]
            per_row = step.columns
        elif step.kind is StepKind.INPUT and step.skip:
            buttons = [self._button(state, msg.FLOW_SKIP, Move.SKIP)]
        elif step.kind is StepKind.STEPS:
            nav.append(self._button(state, msg.FLOW_NEXT, Move.NEXT))
        nav.append(self._button(state, msg.FLOW_CANCEL, Move.CANCEL))
        return (*rows(buttons, per_row), tuple(nav))

    def render(self, state: DialogueState) -> Reply:
        """The message for the current step, with its buttons."""
        if not self.valid(state):
            return Reply(msg.FLOW_ENDED, kind=ReplyKind.DIALOGUE)
        step = self._step(state)
        parts = list(state.notes)
        state.notes.clear()
        if step.kind is StepKind.SUMMARY:
            parts.append(self._summary(state, step))
            flow = self.flows[state.flow]
            footer = msg.FOOTER.format(source=flow.source, as_of=flow.as_of)
            return Reply("\n\n".join(p for p in parts if p), kind=ReplyKind.DIALOGUE, footer=footer,
                         buttons=rows([self.engine.question_button(e) for e in step.entries]))
        if step.kind in (StepKind.CHOICE, StepKind.INPUT):
            parts.append(step.prompt)
            if step.kind is StepKind.CHOICE and step.input is not None:
                parts.append(msg.FLOW_INPUT_HINT)
        elif step.kind is StepKind.STEPS:
            page = min(state.page, len(step.items) - 1)
            if page == 0 and step.checklist:
                checklist = "\n".join(f"• {c}" for c in step.checklist)
                parts.append(f"{step.title}\n需要准备:\n{checklist}")
            parts.append(f"第 {page + 1}/{len(step.items)} 步:{step.items[page]}")
        return Reply("\n\n".join(p for p in parts if p), buttons=self._buttons(state, step),
                     kind=ReplyKind.DIALOGUE)

    def _summary(self, state: DialogueState, step: Step) -> str:
        flow = self.flows[state.flow]
        lines = [step.prompt]
        for name, answer in state.answers.items():
            label = flow.steps[name].summary_label if name in flow.steps else name
            lines.append(f"• {label}:{answer}")
        visited = [flow.steps[str(name)] for name, _ in state.history if str(name) in flow.steps]
        method = next((s for s in reversed(visited) if s.kind is StepKind.STEPS), None)
        if method is not None and method.checklist:
            lines.append("别忘了准备:" + ";".join(method.checklist))
        if method is not None and method.summary_note:
            lines.append(f"⚠️ {method.summary_note}")
        if step.closing:
            lines.append(step.closing)
        return "\n".join(lines)
