"""The matcher meets its accuracy targets on the labelled development set."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.evaluate import evaluate, evaluate_verdicts, load_set, predict
from bot.engine import Engine

TOP1_TARGET = 0.97
REFUSAL_TARGET = 0.94


_predict = predict  # the benchmark's predictor: answers and verdicts count


def test_devset_is_large_and_covers_every_entry(engine: Engine) -> None:
    items = load_set("devset")
    assert len(items) >= 300
    per_id = Counter(i.id for i in items)
    assert per_id[None] >= 60
    missing = [eid for eid in engine.kb.entries if per_id[eid] == 0]
    assert not missing, f"entries without a labelled question: {missing}"
    kinds = Counter(i.kind for i in items)
    for kind in ("colloquial", "typo", "traditional", "noise", "relative", "region", "unanswerable"):
        assert kinds[kind] >= 20, kind
    unknown = {i.id for i in items if i.id} - set(engine.kb.entries)
    assert not unknown


def test_devset_accuracy_targets(engine: Engine) -> None:
    result = evaluate(load_set("devset"), _predict(engine))
    failures = "\n".join(f"{it.q} → {got} (want {it.id})" for it, got in result.failures)
    assert result.top1 >= TOP1_TARGET, f"top-1 {result.top1:.3f}\n{failures}"
    assert result.refusal_rate >= REFUSAL_TARGET, f"refusals {result.refusal_rate:.3f}\n{failures}"


# The held-out sets were never used to write alternates; their bars are lower than the dev
# set's, and guard against a change that only helps the questions we tuned on.
HELD_OUT_TOP1 = 0.95
HELD_OUT_REFUSALS = 0.92


def test_held_out_sets_do_not_regress(engine: Engine) -> None:
    for name in ("holdout", "holdout2"):
        result = evaluate(load_set(name), _predict(engine))
        assert result.top1 >= HELD_OUT_TOP1, (name, result.top1)
        assert result.refusal_rate >= HELD_OUT_REFUSALS, (name, result.refusal_rate)


# Blind sets (written from entry ids and canonical questions only). Each was measured once before
# anything was tuned on it (README); holdout3…holdout9 have since chosen cut-offs and shown misses;
# holdout7 and holdout10 were written after the last change. The bars sit just under today's
# figures, so a regression fails. Per set: least size, top-1, refusals, share of questions about
# other subjects refused (of at least `others`), right verdicts (of at least `named`; 0 when the set
# names no relative or place).
BLIND_BARS = [
    ("holdout3", 400, 0.96, 0.94, 1.00, 0.95, 40, 100),
    ("holdout4", 200, 0.95, 0.91, 1.00, 0.95, 20, 40),
    ("holdout5", 400, 0.97, 0.95, 1.00, 0.95, 40, 80),
    ("holdout6", 400, 0.97, 0.95, 1.00, 0.95, 40, 80),
    ("holdout7", 400, 0.96, 0.96, 1.00, 0.95, 40, 80),
    ("holdout8", 250, 0.94, 0.94, 0.95, 0.0, 20, 0),  # the ten entries of the knowledge issue
    ("holdout9", 250, 0.94, 0.96, 1.00, 0.0, 20, 0),  # the same, after the pinyin reading
    ("holdout10", 250, 0.97, 0.95, 1.00, 0.0, 20, 0),  # the same, written after the last change
]


@pytest.mark.parametrize(
    ("name", "size", "top1", "refusals", "unrelated", "verdicts", "others", "named"), BLIND_BARS)
def test_blind_held_out_sets(engine: Engine, name: str, size: int, top1: float, refusals: float,
                             unrelated: float, verdicts: float, others: int, named: int) -> None:
    items = load_set(name)
    assert len(items) >= size
    result = evaluate(items, _predict(engine))
    assert result.top1 >= top1, result.top1
    assert result.refusal_rate >= refusals, result.refusal_rate
    right, total = result.by_kind["unrelated"]
    assert total >= others and right / total >= unrelated, (right, total)
    if named:
        right, total = evaluate_verdicts(items, lambda q: engine.answer(q).text)
        assert total >= named and right / total >= verdicts, (right, total)


VERDICT_TARGET = 0.95


def test_verdicts_on_named_relatives_and_places(engine: Engine) -> None:
    """The id alone would score "外甥 ✅" as right: the verdict itself must be right too."""
    for name in ("devset", "holdout", "holdout2"):
        right, total = evaluate_verdicts(load_set(name), lambda q: engine.answer(q).text)
        assert total >= 15, name
        assert right / total >= VERDICT_TARGET, (name, right, total)
