"""Guided dialogues as typed data: knowledge/flows/*.yaml loaded into dataclasses, and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .knowledge import KnowledgeBase, line_of


class StepKind(StrEnum):
    """What a step shows and takes."""

    CHOICE = "choice"  # buttons, optionally typed input
    INPUT = "input"  # typed text, optionally 跳过
    STEPS = "steps"  # a walk-through, one item a page
    COMPARE = "compare"  # no prompt: compares two places and branches
    SUMMARY = "summary"  # ends the flow


class InputKind(StrEnum):
    """What typed text a step understands."""

    RELATIVE = "relative"
    REGION = "region"


class Comparison(StrEnum):
    """How the places given at two region steps compare."""

    SAME = "same"  # the same province
    DIFFERENT = "different"
    UNKNOWN = "unknown"  # one of them was skipped


@dataclass(frozen=True)
class Option:
    """One button of a choice step."""

    label: str
    next: str | None = None
    words: tuple[str, ...] = ()  # relation words the option stands for
    ask: str = ""  # a prompt for typed text instead of a choice (其他 → 请输入关系)


@dataclass(frozen=True)
class Branch:
    """Where a compare step goes, with what it says and how the summary names the route."""

    next: str
    note: str = ""
    label: str = ""


@dataclass(frozen=True)
class Step:
    """One step of a flow."""

    name: str
    kind: StepKind
    prompt: str = ""
    input: InputKind | None = None
    summary_label: str = ""
    entries: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    next: str | None = None
    skip: bool = False
    columns: int = 2
    title: str = ""
    checklist: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    summary_note: str = ""
    closing: str = ""
    places: tuple[str, ...] = ()  # compare: the two region steps
    branches: Mapping[Comparison, Branch] = field(default_factory=dict)


@dataclass(frozen=True)
class Flow:
    """A guided dialogue."""

    id: str
    title: str
    source: str
    as_of: str
    intro: str
    not_eligible: str
    start: str
    steps: Mapping[str, Step]


def _text(data: Mapping[str, Any], key: str) -> str:
    return str(data.get(key) or "").strip()


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _option(data: Any) -> Option:
    data = data if isinstance(data, dict) else {}
    words = _strings(data.get("words"))
    nxt = data.get("next")
    return Option(_text(data, "label"), str(nxt) if nxt else None, words, _text(data, "ask"))


def _step(name: str, data: Mapping[str, Any]) -> Step:
    branches = {}
    for comparison in Comparison:
        raw = data.get(str(comparison))
        if isinstance(raw, dict) and raw.get("next"):
            branches[comparison] = Branch(str(raw["next"]), _text(raw, "note"), _text(raw, "label"))
    options = data.get("options")
    nxt = data.get("next")
    return Step(
        name=name,
        kind=StepKind(str(data.get("kind"))),
        prompt=_text(data, "prompt"),
        input=InputKind(str(data["input"])) if data.get("input") else None,
        summary_label=_text(data, "summary_label") or name,
        entries=_strings(data.get("entries")),
        options=tuple(_option(o) for o in options) if isinstance(options, list) else (),
        next=str(nxt) if nxt else None,
        skip=bool(data.get("skip")),
        columns=int(data.get("columns") or 2),
        title=_text(data, "title"),
        checklist=_strings(data.get("checklist")),
        items=_strings(data.get("items")),
        summary_note=_text(data, "summary_note"),
        closing=_text(data, "closing"),
        places=_strings(data.get("places")),
        branches=branches,
    )


def load_flow(flow_id: str, data: Mapping[str, Any]) -> Flow:
    """A flow from its YAML document (which check_flows has passed)."""
    steps = data.get("steps") or {}
    return Flow(
        id=flow_id,
        title=_text(data, "title"),
        source=_text(data, "source"),
        as_of=_text(data, "as_of"),
        intro=_text(data, "intro"),
        not_eligible=_text(data, "not_eligible"),
        start=str(data.get("start")),
        steps={str(name): _step(str(name), step) for name, step in steps.items()},
    )


def load_flows(kb: KnowledgeBase) -> dict[str, Flow]:
    """Every flow of a knowledge base."""
    return {flow_id: load_flow(flow_id, data) for flow_id, data in kb.flows.items()}


Problem = tuple[Path, int, str, str, str]


def _targets(step: Mapping[str, Any]) -> list[Any]:
    options = step.get("options") if isinstance(step.get("options"), list) else []
    targets = [step.get("next")] + [o.get("next") for o in options or [] if isinstance(o, dict)]
    targets += [b.get("next") for c in Comparison if isinstance(b := step.get(str(c)), dict)]
    return targets


def _check_step(kb: KnowledgeBase, path: Path, steps: Mapping[str, Any], name: str,
                step: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    at = line_of(step)

    def bad(fld: str, text: str) -> None:
        problems.append((path, at, name, fld, text))

    kind = step.get("kind")
    if kind not in set(StepKind):
        bad("kind", f"must be one of {sorted(StepKind)}")
    if step.get("input") and step["input"] not in set(InputKind):
        bad("input", f"must be one of {sorted(InputKind)}")
    options = step.get("options") or []
    if not isinstance(options, list):
        bad("options", "must be a list")
        options = []
    for target in _targets(step):
        if target is not None and target not in steps:
            bad("next", f"unknown step {target!r}")
    if kind not in (StepKind.SUMMARY, StepKind.COMPARE) and step.get("next") is None and not all(
        isinstance(o, dict) and o.get("next") for o in options or [{}]
    ):
        bad("next", "where does the dialogue go after this step?")
    if kind == StepKind.CHOICE and not options:
        bad("options", "a choice needs options")
    for opt in options:
        if not isinstance(opt, dict) or not opt.get("label"):
            bad("options", "each option needs a label")
    if kind == StepKind.STEPS and not (isinstance(step.get("items"), list) and step["items"]):
        bad("items", "a steps walk-through needs items")
    if kind == StepKind.COMPARE:
        places = step.get("places")
        if not (isinstance(places, list) and len(places) == 2 and all(
                isinstance(steps.get(p), dict) and steps[p].get("input") == InputKind.REGION
                for p in places)):
            bad("places", "a compare step names two region input steps")
        for comparison in Comparison:
            if not (isinstance(b := step.get(str(comparison)), dict) and b.get("next")):
                bad(str(comparison), "a compare step needs same, different and unknown branches")
    entries = step.get("entries")
    for ref in entries if isinstance(entries, list) else []:
        if ref not in kb.entries:
            bad("entries", f"unknown entry {ref!r}")
    return problems


def check_flows(kb: KnowledgeBase) -> list[Problem]:
    """Problems in the flow files: unknown steps, kinds, inputs, entries or branches."""
    problems: list[Problem] = []
    for flow_id, flow in kb.flows.items():
        path = kb.root / "flows" / f"{flow_id}.yaml"
        steps = flow.get("steps")
        if not isinstance(steps, dict) or not steps:
            problems.append((path, line_of(flow), flow_id, "steps", "missing"))
            continue
        if flow.get("start") not in steps:
            problems.append((path, line_of(flow, "start"), flow_id, "start",
                             f"unknown step {flow.get('start')!r}"))
        for name, step in steps.items():
            if not isinstance(step, dict):
                problems.append((path, line_of(steps, name), name, "-", "a step must be a mapping"))
                continue
            problems.extend(_check_step(kb, path, steps, name, step))
    return problems
