"""Guided dialogues described in knowledge/flows/*.yaml, run step by step for any adapter."""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import messages as msg
from .knowledge import KnowledgeBase, line_of
from .normalize import compact
from .reply import Button, Reply, rows

if TYPE_CHECKING:
    from .engine import Engine

DEFAULT_DIALOGUE_TIMEOUT = 15 * 60.0  # seconds of silence after which a dialogue ends
# Typed text this much longer than the relative or place it names may be a question of its own.
ANSWER_EXTRA_CHARS = 6
STEP_KINDS = frozenset({"choice", "input", "steps", "summary"})
INPUT_KINDS = frozenset({"relative", "region"})


@dataclass
class DialogueState:
    """Where one user is in one dialogue; plain data so it can be persisted."""

    flow: str
    step: str
    page: int = 0
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))
    answers: dict[str, str] = field(default_factory=dict)
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


def with_resume(reply: Reply, state: DialogueState) -> Reply:
    """An answer given mid-dialogue: the same reply, with a way back to the current step."""
    button = Button(msg.FLOW_RESUME_BUTTON, f"d:{state.nonce}:resume")
    return dataclasses.replace(
        reply, body=f"{reply.body}\n\n{msg.FLOW_RESUME_HINT}", buttons=(*reply.buttons, (button,))
    )


def parse_action(action: str) -> tuple[str, str] | None:
    """Split a dialogue button action 'd:<nonce>:<verb>' into (nonce, verb)."""
    parts = action.split(":", 2)
    if len(parts) != 3 or parts[0] != "d":
        return None
    return parts[1], parts[2]


def check_flows(kb: KnowledgeBase) -> list[tuple[Path, int, str, str, str]]:
    """Problems in the flow files: unknown steps, kinds, inputs or entries."""
    problems: list[tuple[Path, int, str, str, str]] = []
    for flow_id, flow in kb.flows.items():
        path = kb.root / "flows" / f"{flow_id}.yaml"
        steps = flow.get("steps")
        if not isinstance(steps, dict) or not steps:
            problems.append((path, line_of(flow), flow_id, "steps", "missing"))
            continue
        if flow.get("start") not in steps:
            problems.append((path, line_of(flow, "start"), flow_id, "start", f"unknown step {flow.get('start')!r}"))
        for name, step in steps.items():
            if not isinstance(step, dict):
                problems.append((path, line_of(steps, name), name, "-", "a step must be a mapping"))
                continue
            at = line_of(step)
            kind = step.get("kind")
            if kind not in STEP_KINDS:
                problems.append((path, at, name, "kind", f"must be one of {sorted(STEP_KINDS)}"))
            if step.get("input") and step["input"] not in INPUT_KINDS:
                problems.append((path, at, name, "input", f"must be one of {sorted(INPUT_KINDS)}"))
            options = step.get("options") or []
            if not isinstance(options, list):
                problems.append((path, at, name, "options", "must be a list"))
                options = []
            targets = [step.get("next")] + [o.get("next") for o in options if isinstance(o, dict)]
            for target in targets:
                if target is not None and target not in steps:
                    problems.append((path, at, name, "next", f"unknown step {target!r}"))
            if kind != "summary" and step.get("next") is None and not all(
                isinstance(o, dict) and o.get("next") for o in options or [{}]
            ):
                problems.append((path, at, name, "next", "where does the dialogue go after this step?"))
            if kind == "choice" and not options:
                problems.append((path, at, name, "options", "a choice needs options"))
            for opt in options:
                if not isinstance(opt, dict) or not opt.get("label"):
                    problems.append((path, at, name, "options", "each option needs a label"))
            if kind == "steps" and not (isinstance(step.get("items"), list) and step["items"]):
                problems.append((path, at, name, "items", "a steps walk-through needs items"))
            entries = step.get("entries")
            for ref in entries if isinstance(entries, list) else []:
                if ref not in kb.entries:
                    problems.append((path, at, name, "entries", f"unknown entry {ref!r}"))
    return problems


class Dialogues:
    """Runs the flows of a knowledge base, using the engine for verdicts on relatives and places."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.flows = engine.kb.flows

    # ----- entry points -----

    def start(self, flow_id: str) -> tuple[Reply, DialogueState]:
        """Begin a flow at its first step."""
        flow = self.flows[flow_id]
        state = DialogueState(flow=flow_id, step=str(flow["start"]))
        intro = str(flow.get("intro") or "").strip()
        if intro:
            state.notes.append(intro)
        return self.render(state), state

    def press(self, state: DialogueState | None, action: str) -> tuple[Reply, DialogueState | None]:
        """A dialogue button was pressed; stale buttons get a polite notice."""
        parsed = parse_action(action)
        if state is None or parsed is None or parsed[0] != state.nonce:
            return Reply(msg.FLOW_ENDED, kind="dialogue"), state
        if not self.valid(state):
            return Reply(msg.FLOW_ENDED, kind="dialogue"), None
        verb = parsed[1]
        state.updated = time.time()
        step = self._step(state)
        if verb == "cancel":
            return Reply(msg.FLOW_CANCELLED, kind="dialogue"), None
        if verb == "back":
            return self._back(state)
        if verb == "resume":
            return self.render(state), state
        if verb == "skip" and step.get("skip"):
            state.answers[state.step] = msg.FLOW_SKIP
            return self._advance(state, step.get("next"))
        if verb == "next" and step.get("kind") == "steps":
            if state.page + 1 < len(step.get("items") or []):
                state.history.append([state.step, state.page])
                state.page += 1
                return self.render(state), state
            return self._advance(state, step.get("next"))
        if verb.isdigit() and step.get("kind") == "choice":
            options = step.get("options") or []
            index = int(verb)
            if 0 <= index < len(options):
                return self._choose(state, step, options[index])
        return self.render(state), state

    def text(self, state: DialogueState, text: str) -> tuple[Reply, DialogueState | None] | None:
        """Typed text during a flow; None when it is not an answer to the current step."""
        if not self.valid(state):
            return Reply(msg.FLOW_ENDED, kind="dialogue"), None
        step = self._step(state)
        kind = step.get("input")
        if kind is None:
            return None
        state.updated = time.time()
        prepared = self.engine.lexicon.prepare(text)
        if kind == "relative":
            relations = self.engine.relatives.find(prepared)
            if self._asks_something_else(text, [r.word for r in relations]):
                return None
            if not relations:
                if not state.awaiting_text:
                    return None
                return Reply(msg.FLOW_UNKNOWN_RELATION.format(text=text.strip()[:20]),
                             buttons=self.render(state).buttons, kind="dialogue"), state
            return self._judge_relatives(state, step, relations, label="、".join(r.word for r in relations))
        if kind == "region":
            places = self.engine.regions.find(
                prepared, self.engine.lexicon.boundaries, self.engine.lexicon.is_word)
            if not places or self._asks_something_else(text, [p.word for p in places]):
                return None
            state.answers[state.step] = "、".join(p.word for p in places)
            state.notes.extend(self.engine.region_verdict(p) for p in places)
            return self._advance(state, step.get("next"))
        return None

    def _asks_something_else(self, text: str, words: list[str]) -> bool:
        """Whether typed text is a question of its own rather than an answer to the step:
        "我妈住院报销比例是多少" names a relative but asks about reimbursement."""
        rest = compact(text)
        for word in words:
            rest = rest.replace(compact(word), "")
        if len(rest) <= ANSWER_EXTRA_CHARS:
            return False
        if self.engine.matcher.match(text).oos:
            return True
        reply = self.engine.answer(text)  # a verdict on the relative or place is an answer
        return reply.kind == "answer" and reply.entry_id not in (
            self.engine.relatives_id, self.engine.regions_id)

    def valid(self, state: DialogueState) -> bool:
        """Whether a (restored) state still points at a flow and step that exist: a reloaded
        knowledge base may have renamed them."""
        flow = self.flows.get(state.flow)
        return flow is not None and state.step in (flow.get("steps") or {})

    def expired(self, state: DialogueState, timeout: float, now: float | None = None) -> bool:
        """Whether a dialogue has been idle for longer than `timeout` seconds."""
        return (now or time.time()) - state.updated > timeout

    # ----- internals -----

    def _step(self, state: DialogueState) -> dict[str, Any]:
        return self.flows[state.flow]["steps"][state.step]

    def _choose(self, state: DialogueState, step: dict[str, Any], option: dict[str, Any]) -> tuple[Reply, DialogueState | None]:
        if option.get("ask"):
            state.awaiting_text = True
            buttons = [self._button(state, msg.FLOW_BACK, "resume"), self._button(state, msg.FLOW_CANCEL, "cancel")]
            return Reply(str(option["ask"]), buttons=(tuple(buttons),), kind="dialogue"), state
        if step.get("input") == "relative":
            words = [str(w) for w in option.get("words") or [option["label"]]]
            relations = [r for w in words for r in self.engine.relatives.find(self.engine.lexicon.prepare(w))[:1]]
            if relations:
                return self._judge_relatives(state, step, relations, label=str(option["label"]))
        state.answers[state.step] = str(option["label"])
        return self._advance(state, option.get("next") or step.get("next"))

    def _judge_relatives(self, state: DialogueState, step: dict[str, Any], relations: list[Any], label: str) -> tuple[Reply, DialogueState | None]:
        verdicts = [self.engine.relation_verdict(r) for r in relations]
        state.awaiting_text = False
        if not all(r.near for r in relations):
            flow = self.flows[state.flow]
            ending = str(flow.get("not_eligible") or "").strip()
            body = "\n\n".join([*verdicts, ending] if ending else verdicts)
            buttons = [self.engine.question_button(e) for e in step.get("entries") or []]
            data = self.engine.kb.relatives
            footer = msg.FOOTER.format(source=data.get("source", ""), as_of=data.get("as_of", ""))
            return Reply(body, buttons=rows(buttons), footer=footer, kind="dialogue"), None
        state.answers[state.step] = label
        state.notes.extend(verdicts)
        return self._advance(state, step.get("next"))

    def _advance(self, state: DialogueState, target: str | None) -> tuple[Reply, DialogueState | None]:
        if target is None:
            return Reply(msg.FLOW_DONE, kind="dialogue"), None
        state.history.append([state.step, state.page])
        state.step, state.page, state.awaiting_text = target, 0, False
        reply = self.render(state)
        if self._step(state).get("kind") == "summary":
            return reply, None
        return reply, state

    def _back(self, state: DialogueState) -> tuple[Reply, DialogueState | None]:
        state.awaiting_text = False
        while state.history:
            step, page = state.history.pop()
            if str(step) in self.flows[state.flow]["steps"]:
                state.step, state.page = str(step), int(page)
                state.answers.pop(state.step, None)
                break
        state.notes.clear()
        return self.render(state), state

    def _button(self, state: DialogueState, label: str, verb: str) -> Button:
        return Button(label, f"d:{state.nonce}:{verb}")

    def render(self, state: DialogueState) -> Reply:
        """The message for the current step, with its buttons."""
        if not self.valid(state):
            return Reply(msg.FLOW_ENDED, kind="dialogue")
        step = self._step(state)
        kind = step.get("kind")
        parts = list(state.notes)
        state.notes.clear()
        nav: list[Button] = []
        if state.history:
            nav.append(self._button(state, msg.FLOW_BACK, "back"))
        buttons: list[Button] = []
        per_row = 1
        if kind == "choice":
            parts.append(str(step.get("prompt", "")))
            buttons = [self._button(state, str(o["label"]), str(i)) for i, o in enumerate(step.get("options") or [])]
            per_row = int(step.get("columns") or 2)
            if step.get("input"):
                parts.append(msg.FLOW_INPUT_HINT)
        elif kind == "input":
            parts.append(str(step.get("prompt", "")))
            if step.get("skip"):
                buttons = [self._button(state, msg.FLOW_SKIP, "skip")]
        elif kind == "steps":
            items = step.get("items") or []
            page = min(state.page, len(items) - 1)
            title = str(step.get("title") or "")
            if page == 0 and step.get("checklist"):
                checklist = "\n".join(f"• {c}" for c in step["checklist"])
                parts.append(f"{title}\n需要准备:\n{checklist}")
            parts.append(f"第 {page + 1}/{len(items)} 步:{items[page]}")
            nav.append(self._button(state, msg.FLOW_NEXT, "next"))
        elif kind == "summary":
            parts.append(self._summary(state, step))
            flow = self.flows[state.flow]
            footer = msg.FOOTER.format(source=flow.get("source", ""), as_of=flow.get("as_of", ""))
            return Reply("\n\n".join(p for p in parts if p), kind="dialogue", footer=footer,
                         buttons=rows([self.engine.question_button(e) for e in step.get("entries") or []]))
        nav.append(self._button(state, msg.FLOW_CANCEL, "cancel"))
        layout = rows(buttons, per_row) + (tuple(nav),)
        return Reply("\n\n".join(p for p in parts if p), buttons=layout, kind="dialogue")

    def _summary(self, state: DialogueState, step: dict[str, Any]) -> str:
        flow = self.flows[state.flow]
        lines = [str(step.get("prompt") or "")]
        for name, answer in state.answers.items():
            label = flow["steps"].get(name, {}).get("summary_label") or name
            lines.append(f"• {label}:{answer}")
        visited = [flow["steps"][str(name)] for name, _ in state.history if str(name) in flow["steps"]]
        method = next((s for s in reversed(visited) if s.get("kind") == "steps"), None)
        if method and method.get("checklist"):
            lines.append("别忘了准备:" + ";".join(method["checklist"]))
        if method and method.get("summary_note"):
            lines.append(f"⚠️ {method['summary_note']}")
        closing = str(step.get("closing") or "").strip()
        if closing:
            lines.append(closing)
        return "\n".join(lines)
