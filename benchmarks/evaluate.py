"""Score a matcher on a labelled question set (shared by the tests and the benchmark)."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.engine import Engine

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


@dataclass(frozen=True)
class Item:
    """One labelled question: the entry id it must get, or None when it must be refused."""

    q: str
    id: str | None
    kind: str
    verdict: str | None = None  # near / not-near / in-batch / not-in-batch, for case questions


@dataclass
class Result:
    """Accuracy figures over a labelled set."""

    total: int = 0
    answerable: int = 0
    answerable_right: int = 0
    refusals: int = 0
    refusals_right: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[tuple[Item, str | None]] = field(default_factory=list)

    @property
    def top1(self) -> float:
        """Share of answerable questions answered with the right entry."""
        return self.answerable_right / self.answerable if self.answerable else 0.0

    @property
    def refusal_rate(self) -> float:
        """Share of unanswerable questions correctly left without an answer."""
        return self.refusals_right / self.refusals if self.refusals else 0.0


def predict(engine: Engine) -> Callable[[str], str | None]:
    """An engine as a predictor: the entry it answers with (an answer or a verdict), else None."""

    def answer(question: str) -> str | None:
        reply = engine.answer(question)
        return reply.entry_id if reply.answered else None

    return answer


def latency(engine: Engine, questions: list[str], rounds: int = 3) -> tuple[float, float]:
    """Median and p99 of engine.answer in milliseconds (caches warmed first, as in a running bot)."""
    for q in questions:
        engine.answer(q)
    samples: list[float] = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            engine.answer(q)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(int(len(samples) * 0.99) - 1, 0)]


def load_set(name: str = "devset") -> list[Item]:
    """A labelled set from tests/data/<name>.yaml."""
    raw = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    return [Item(str(r["q"]), r.get("id"), str(r.get("kind", "plain")), r.get("verdict")) for r in raw]


def evaluate(items: list[Item], predict: Callable[[str], str | None]) -> Result:
    """Run `predict` (question → entry id or None) over the items."""
    res = Result()
    for item in items:
        got = predict(item.q)
        ok = got == item.id
        res.total += 1
        if item.id is None:
            res.refusals += 1
            res.refusals_right += ok
        else:
            res.answerable += 1
            res.answerable_right += ok
        res.by_kind[item.kind][0] += ok
        res.by_kind[item.kind][1] += 1
        if not ok:
            res.failures.append((item, got))
    return res


# How a case reply shows its verdict: the first mark in its text.
VERDICT_MARKS = {"✅": ("near", "in-batch"), "❌": ("not-near",), "ℹ️": ("not-in-batch",)}


def verdict_of(text: str, wanted: str) -> bool:
    """Whether a reply's first verdict mark agrees with the wanted verdict."""
    marks = [(text.find(mark), values) for mark, values in VERDICT_MARKS.items() if mark in text]
    if not marks:
        return False
    return wanted in min(marks)[1]


def evaluate_verdicts(items: list[Item], reply_text: Callable[[str], str]) -> tuple[int, int]:
    """(right, total) over the items that carry a verdict label."""
    labelled = [i for i in items if i.verdict]
    right = sum(verdict_of(reply_text(i.q), str(i.verdict)) for i in labelled)
    return right, len(labelled)
