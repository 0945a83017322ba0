"""Choose the confidence policy's cut-offs on the calibration sets (never on the dev set).

Run: python -m benchmarks.calibrate [--sets holdout … holdout6]

Tries a grid of policies on the shipped knowledge base and prints the best few by the sum of top-1
accuracy on answerable questions and correct refusals, with the figures on the check set
(holdout7), which no cut-off was chosen on. Copy the winner into bot/engine/policy.py by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from typing import Any

from bot.engine import Engine

from .evaluate import Item, Result, evaluate, load_set, predict

GRID = {
    "learned_boost": (0.3, 0.4, 0.5),
    "temperature": (0.2, 0.3),
    "answer": (0.26, 0.30),
    "learned_veto": (0.4, 0.5),
}


def score(engine: Engine, items: list[Item]) -> Result:
    """The engine's accuracy on items with its current policy."""
    return evaluate(items, predict(engine))


def main() -> None:
    """Grid-search the policy and print the best settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+",
                        default=["holdout", "holdout2", "holdout3", "holdout4", "holdout5", "holdout6"])
    parser.add_argument("--check", default="holdout7")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    engine = Engine.from_folder()
    items = [i for name in args.sets for i in load_set(name)]
    check = load_set(args.check)
    base = engine.matcher.policy
    rows = []
    for values in itertools.product(*GRID.values()):
        chosen: dict[str, Any] = dict(zip(GRID, values, strict=True))
        policy = dataclasses.replace(base, **chosen)
        engine.matcher.policy = policy
        res = score(engine, items)
        rows.append((res.top1 + res.refusal_rate, res.top1, res.refusal_rate, policy))
    rows.sort(key=lambda r: r[0], reverse=True)
    print("calibration sets:", ", ".join(args.sets), f"({len(items)} questions)")
    for total, top1, refusals, policy in rows[: args.top]:
        engine.matcher.policy = policy
        held = score(engine, check)
        chosen = {k: getattr(policy, k) for k in GRID}
        print(f"{total:.3f} top-1 {top1:.3f} refusals {refusals:.3f} | {args.check} "
              f"{held.top1:.3f}/{held.refusal_rate:.3f} | {chosen}")
    engine.matcher.policy = base
    current = score(engine, items)
    print(f"current policy: top-1 {current.top1:.3f} refusals {current.refusal_rate:.3f}")


if __name__ == "__main__":
    main()
