"""Matcher benchmark: accuracy by kind (the bot, its lexical scorer and its classifier alone, two
baselines), calibration, latency, and start-up time.

Run: python -m benchmarks.matcher [--quick] [--entries 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jieba
import yaml
from rapidfuzz import fuzz, process

from bot.engine import Engine
from bot.engine.knowledge import DEFAULT_DIR, load
from bot.engine.learned import learned_features
from bot.engine.normalize import clean
from bot.engine.policy import is_entry

from .evaluate import Item, Result, evaluate, evaluate_verdicts, latency, load_set, predict

Predict = Callable[[str], "str | None"]
ROOT = Path(__file__).resolve().parents[1]
# The sets the README's figures come from, the cleanest first. Each was written blind and measured
# once before anything was tuned on it (the README lists those first figures); holdout7 (all
# questions) and holdout10 (the ten new entries) were written after the last change, and nothing was
# tuned on them since. The others chose the policy's cut-offs (benchmarks/calibrate.py) and showed
# misses while the matcher changed.
HELD_OUT = ("holdout10", "holdout7", "holdout9", "holdout8", "holdout6", "holdout5", "holdout4", "holdout3",
            "holdout", "holdout2")
# The entries the knowledge issue added (#8): their blind questions must meet the same bar.
NEW_ENTRIES = frozenset({
    "card-activate", "card-lost", "card-password", "card-balance", "card-lend", "account-withdraw",
    "account-inflow", "medical-reimburse", "medical-remote", "medical-years",
})


def ours(engine: Engine) -> Predict:
    """The shipped engine: an entry id when it answers (or gives a case verdict), else None."""
    return predict(engine)


def lexical_only(kb_engine: Engine) -> Predict:
    """The same engine with the learned classifier switched off: the lexical scorer alone."""
    policy = dataclasses.replace(kb_engine.matcher.policy, learned_share=0.0,
                                 learned_veto=2.0, learned_evidence=2.0)
    engine = Engine(kb_engine.kb, policy)
    return ours(engine)


def learned_alone(engine: Engine, dev: list[Item]) -> Predict:
    """The learned classifier alone: its most likely class, if an entry, above its best cut-off."""
    matcher = engine.matcher

    def scored(question: str) -> tuple[str | None, float]:
        toks, feats = matcher.lexicon.analyse(matcher.lexicon.prepare(question))
        probs = matcher.learned.probabilities(learned_features(toks, feats),
                                              matcher.policy.temperature, limit=1)
        if not toks or not probs:
            return None, 0.0
        key, p = next(iter(probs.items()))
        return (key if is_entry(key) else None), p

    return _tuned(scored, dev)


def bands(engine: Engine, items: list[Item]) -> str:
    """Calibration: how often an answer is right, by the score it was given."""
    edges = [0.0, 0.3, 0.4, 0.5, 0.6, 0.8, 1.01]
    counts = [[0, 0] for _ in edges[:-1]]
    for item in items:
        reply = engine.answer(item.q)
        if reply.kind not in ("answer", "case"):
            continue
        band = next(i for i in range(len(edges) - 1) if reply.score < edges[i + 1])
        counts[band][0] += reply.entry_id == item.id
        counts[band][1] += 1
    lines = ["| score | answers | right |", "|---|---|---|"]
    for i, (right, total) in enumerate(counts):
        if total:
            lines.append(f"| {edges[i]:.1f}–{min(edges[i + 1], 1.0):.1f} | {total} | {right / total:.1%} |")
    return "\n".join(lines)


def _tuned(scored: Callable[[str], tuple[str | None, float]], items: list[Item]) -> Predict:
    """Pick the refusal cut-off that is best for a baseline on the dev set (its best case)."""
    cached = [(item, *scored(item.q)) for item in items]
    scores = sorted({s for _, _, s in cached})
    best_cut, best_value = 0.0, -1.0
    for cut in scores[:: max(1, len(scores) // 200)]:
        ok_ans = sum(1 for it, got, s in cached if it.id and got == it.id and s >= cut)
        ok_ref = sum(1 for it, got, s in cached if not it.id and s < cut)
        n_ans = sum(1 for it, _, _ in cached if it.id) or 1
        n_ref = sum(1 for it, _, _ in cached if not it.id) or 1
        value = ok_ans / n_ans + ok_ref / n_ref
        if value > best_value:
            best_cut, best_value = cut, value

    def predict(question: str) -> str | None:
        got, score = scored(question)
        return got if score >= best_cut else None

    return predict


def wratio_baseline(engine: Engine, dev: list[Item]) -> Predict:
    """Plain rapidfuzz WRatio against every question and alternate."""
    choices: list[str] = []
    owners: list[str] = []
    for entry in engine.kb.entries.values():
        for text in entry.variants:
            choices.append(text)
            owners.append(entry.id)

    def scored(question: str) -> tuple[str | None, float]:
        best = process.extractOne(question, choices, scorer=fuzz.WRatio)
        return (owners[best[2]], float(best[1])) if best else (None, 0.0)

    return _tuned(scored, dev)


def bm25_baseline(engine: Engine, dev: list[Item]) -> Predict:
    """jieba tokens and BM25 (rank_bm25) over each entry's questions taken together."""
    from rank_bm25 import BM25Okapi

    ids = list(engine.kb.entries)
    corpus = [
        [t for t in jieba.lcut(clean(" ".join(engine.kb.entries[i].variants))) if t.strip()]
        for i in ids
    ]
    bm25 = BM25Okapi(corpus)

    def scored(question: str) -> tuple[str | None, float]:
        tokens = [t for t in jieba.lcut(clean(question)) if t.strip()]
        if not tokens:
            return None, 0.0
        scores = bm25.get_scores(tokens)
        best = max(range(len(ids)), key=lambda i: scores[i])
        return ids[best], float(scores[best])

    return _tuned(scored, dev)


def table(results: dict[str, Result]) -> str:
    """A Markdown table of accuracy by kind, one column per system."""
    names = list(results)
    kinds = sorted({k for r in results.values() for k in r.by_kind})
    lines = ["| kind | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind in kinds:
        n = next(iter(results.values())).by_kind[kind][1]
        cells = [f"{r.by_kind[kind][0] / max(r.by_kind[kind][1], 1):.1%}" for r in results.values()]
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    lines.append("| **top-1 (answerable)** | | " + " | ".join(f"**{r.top1:.1%}**" for r in results.values()) + " |")
    lines.append("| **correct refusals** | | " + " | ".join(f"**{r.refusal_rate:.1%}**" for r in results.values()) + " |")
    return "\n".join(lines)


def synthetic_knowledge(target: Path, entries: int, seed: int = 7) -> None:
    """Write a knowledge folder of `entries` generated entries built from the shipped vocabulary."""
    rng = random.Random(seed)
    shipped = Engine.from_folder(DEFAULT_DIR)
    words = sorted({t for e in shipped.kb.entries.values() for q in e.variants
                    for t in jieba.lcut(clean(q)) if t.strip()})
    syllables = "安宝采德恩芳广海华佳锦康澜铭宁鹏庆荣森泰文鑫阳远振"
    (target / "faq").mkdir(parents=True)
    for name in ("regions.yaml", "relatives.yaml", "synonyms.yaml", "out_of_scope.yaml",
                 "cues.yaml", "smalltalk.yaml"):
        (target / name).write_text((DEFAULT_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    per_file = 500
    for f in range(0, entries, per_file):
        items = []
        for i in range(f, min(f + per_file, entries)):
            topic = "".join(rng.choice(syllables) for _ in range(3))  # an invented topic word

            def phrase(topic: str = topic) -> str:
                return topic + "".join(rng.sample(words, rng.randint(3, 7)))

            items.append({
                "id": f"gen-{i}", "question": phrase(), "alternates": [phrase() for _ in range(8)],
                "answer": "生成的答案。", "related": [], "source": "generated",
                "as_of": "2026-01-01", "review_by": "2027-12-31",
            })
        doc = {"category": f"gen{f // per_file}", "title": "生成", "entries": items}
        (target / "faq" / f"gen{f // per_file:03d}.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def startup(runs: int) -> float:
    """Median wall time of `python -m bot ask …` in a fresh process, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "ask", "外婆能用我的医保吗"], cwd=ROOT,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print Markdown tables for the README."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matcher")
    parser.add_argument("--quick", action="store_true", help="skip the 10,000-entry run")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    engine = Engine.from_folder(DEFAULT_DIR)
    dev = load_set("devset")
    held = {name: load_set(name) for name in HELD_OUT}
    systems = {
        "shebao-bot": ours(engine),
        "lexical only": lexical_only(engine),
        "learned only": learned_alone(engine, dev),
        "rapidfuzz WRatio": wratio_baseline(engine, dev),
        "jieba + BM25": bm25_baseline(engine, dev),
    }
    for name, items in (*held.items(), ("devset", dev)):
        results = {s: evaluate(items, p) for s, p in systems.items()}
        print(f"\n### Accuracy on {name} ({len(items)} questions)\n")
        print(table(results))
        right, total = evaluate_verdicts(items, lambda q: engine.answer(q).text)
        if total:
            print(f"\nVerdicts on the named relative or place (✅/❌): {right}/{total} = {right / total:.1%}")
        added = [i for i in items if i.id in NEW_ENTRIES]
        if added:
            new = evaluate(added, systems["shebao-bot"])
            print(f"\nQuestions for the ten entries added in issue #8: {new.top1:.1%} of {len(added)} right")
    print("\n### Calibration on the held-out sets (shebao-bot's answers by score)\n")
    print(bands(engine, [i for items in held.values() for i in items]))

    questions = [i.q for i in dev]
    med, p99 = latency(engine, questions, args.rounds)
    print("\n### Speed\n")
    print("| knowledge base | entries | median | p99 |\n|---|---|---|---|")
    print(f"| shipped | {len(engine.kb.entries)} | {med:.3f} ms | {p99:.3f} ms |")
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            synthetic_knowledge(Path(tmp), args.entries)
            start = time.perf_counter()
            big = Engine(load(Path(tmp)))  # the generated base skips kb check's pairwise scan
            built = time.perf_counter() - start
            med, p99 = latency(big, questions, max(1, args.rounds // 2))
            print(f"| generated | {len(big.kb.entries)} | {med:.3f} ms | {p99:.3f} ms |")
            print(f"\n(load + index of the generated base: {built:.1f} s)")
    print(f"\n`python -m bot ask` start-up (median of 5): {startup(5):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
