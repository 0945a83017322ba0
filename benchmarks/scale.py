"""Start-up and scale benchmark: cold `ask`, a 10,000-entry base (first build, second start, memory,
per-question time, no stolen questions) and a hot reload beside chats being answered.

Run: python -m benchmarks.scale [--entries 10000] [--runs 3] [--skip-reload]

Every start is a fresh process (`python -m bot …`) with its own cache folder (BOT_CACHE_DIR), so the
first start builds and the next ones load the stored engine. Figures are medians; the load average
is printed beside them, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.engine import Engine
from bot.engine.cache import CACHE_ENV, load_engine
from bot.engine.knowledge import DEFAULT_DIR

from .evaluate import Item, evaluate, latency, load_set, predict

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "社保卡有什么用"
GENERATED_PREFIX = "gen-"
PER_FILE = 500
CHAT_INTERVAL_S = 0.02  # the simulated chats ask a question this often during a reload


# ----- the generated base -----


def generate(target: Path, entries: int, seed: int = 7) -> None:
    """The shipped knowledge folder plus `entries` generated entries (9 questions each) made of an
    invented topic word and 3–7 words of the shipped questions: look-alikes that must not steal a
    real question. The result passes `kb check`."""
    from bot.engine.lexicon import Lexicon

    rng = random.Random(seed)
    shutil.copytree(DEFAULT_DIR, target)
    shipped = Engine.from_folder(DEFAULT_DIR)
    lexicon: Lexicon = shipped.lexicon
    words = sorted({t for e in shipped.kb.entries.values() for q in e.variants
                    for t in lexicon.tokens(lexicon.prepare(q))})
    syllables = "安宝采德恩芳广海华佳锦康澜铭宁鹏庆荣森泰文鑫阳远振"
    as_of, review_by = dt.date(2026, 1, 1), dt.date(2027, 12, 31)
    for first in range(0, entries, PER_FILE):
        items = []
        for i in range(first, min(first + PER_FILE, entries)):
            topic = "".join(rng.choice(syllables) for _ in range(3))

            def phrase(topic: str = topic) -> str:
                return topic + "".join(rng.sample(words, rng.randint(3, 7)))

            items.append({
                "id": f"{GENERATED_PREFIX}{i}", "question": phrase(),
                "alternates": [phrase() for _ in range(8)],
                "answer": "生成的答案。", "related": [], "source": "generated",
                "as_of": as_of, "review_by": review_by,
            })
        number = first // PER_FILE
        doc = {"category": f"gen{number}", "title": f"生成{number}", "order": 100 + number,
               "entries": items}
        (target / "faq" / f"gen{number:03d}.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


# ----- fresh processes -----


@dataclass(frozen=True)
class Run:
    """One fresh process: wall time and peak memory."""

    seconds: float
    max_rss_mb: float


def run_bot(args: list[str], cache: Path | None, stdin: str = "") -> Run:
    """`python -m bot …` in a fresh process, with this cache folder (None: an empty one)."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as empty:
        env[CACHE_ENV] = str(cache or empty)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.peak", "bot", *args], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"python -m bot {' '.join(args)} failed: {err.decode()[-2000:]}")
    # The program's own peak (benchmarks/peak.py); ru_maxrss would include this process's memory.
    peak = re.search(rb"peak-kb (\d+)", err)
    return Run(seconds, int(peak.group(1)) / 1024 if peak else usage.ru_maxrss / 1024)


def median_run(runs: list[Run]) -> Run:
    """The median time and the largest memory of several runs."""
    return Run(statistics.median(r.seconds for r in runs), max(r.max_rss_mb for r in runs))


def load_note() -> str:
    """The 1-minute load average and the core count, printed beside the figures."""
    one, _, _ = os.getloadavg()
    return f"load average {one:.2f} on {os.cpu_count()} cores"


# ----- in one process -----


def stolen(engine: Engine, items: list[Item]) -> list[tuple[str, str]]:
    """Labelled questions (answerable or not) that a generated entry answered."""
    guess = predict(engine)
    return [(item.q, got) for item in items
            if (got := guess(item.q)) is not None and got.startswith(GENERATED_PREFIX)]


@contextmanager
def cache_folder(path: Path) -> Iterator[Path]:
    """BOT_CACHE_DIR set to `path` for in-process loads, restored afterwards."""
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(path)
    try:
        yield path
    finally:
        if old is None:
            del os.environ[CACHE_ENV]
        else:
            os.environ[CACHE_ENV] = old


async def _chats_during(reload: Callable[[], object], engine: Engine, questions: list[str],
                        settle_s: float = 1.0) -> tuple[list[float], float]:
    """Answer a question every CHAT_INTERVAL_S on the event loop (as the handlers do) while
    `reload` runs in a thread (as Ops.reload does); each latency counts from when the question was
    due, so time the loop was held up counts too. Returns the latencies (ms) and the reload's time."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    task = loop.create_task(asyncio.to_thread(reload))
    due = time.perf_counter()
    i = 0
    while not task.done() or time.perf_counter() - started < settle_s:
        due += CHAT_INTERVAL_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        engine.answer(questions[i % len(questions)])
        latencies.append((time.perf_counter() - due) * 1000)
        i += 1
        if task.done() and time.perf_counter() - started > settle_s:
            break
    await task
    return latencies, time.perf_counter() - started


def reload_figures(name: str, reload: Callable[[], object], engine: Engine,
                   questions: list[str]) -> str:
    """One Markdown row: answers' p50 / p99 / max while a reload runs."""
    samples, took = asyncio.run(_chats_during(reload, engine, questions))
    samples.sort()
    p99 = samples[max(0, int(len(samples) * 0.99) - 1)]
    return (f"| {name} | {took:.1f} s | {len(samples)} | {statistics.median(samples):.1f} ms "
            f"| {p99:.1f} ms | {samples[-1]:.1f} ms |")


# ----- the report -----


def main(argv: list[str] | None = None) -> int:
    """Measure and print Markdown for the README's "Start-up and scale" section."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-reload", action="store_true")
    parser.add_argument("--old-reload", action="store_true",
                        help="also time the old reload (Engine.from_folder in a thread)")
    args = parser.parse_args(argv)
    dev = load_set("devset")
    questions = [i.q for i in dev]

    print(f"### Start-up ({load_note()})\n")
    print("| command | cache | median | peak memory |\n|---|---|---|---|")
    ask = ["ask", QUESTION]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        no_cache = median_run([run_bot(ask, None) for _ in range(args.runs)])
        print(f"| `ask {QUESTION}` (shipped) | none (first build) | {no_cache.seconds:.2f} s "
              f"| {no_cache.max_rss_mb:.0f} MB |")
        run_bot(ask, cache)
        warm = median_run([run_bot(ask, cache) for _ in range(args.runs)])
        print(f"| `ask {QUESTION}` (shipped) | stored | {warm.seconds:.2f} s "
              f"| {warm.max_rss_mb:.0f} MB |")

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "knowledge"
        generate(big, args.entries)
        cache = Path(tmp) / "cache"
        match = ["match", "--jsonl", "--knowledge", str(big)]
        first = run_bot(match, cache, QUESTION + "\n")
        print(f"| `match --jsonl` (+{args.entries:,} entries) | none (first build) "
              f"| {first.seconds:.1f} s | {first.max_rss_mb:.0f} MB |")
        second = median_run([run_bot(match, cache, QUESTION + "\n") for _ in range(args.runs)])
        print(f"| `match --jsonl` (+{args.entries:,} entries) | stored | {second.seconds:.2f} s "
              f"| {second.max_rss_mb:.0f} MB |")
        check = run_bot(["kb", "check", str(big)], cache)
        print(f"| `kb check` (+{args.entries:,} entries) | — | {check.seconds:.1f} s "
              f"| {check.max_rss_mb:.0f} MB |")

        with cache_folder(cache):
            shipped = load_engine(DEFAULT_DIR)
            large = load_engine(big)
        print(f"\n### Per question ({load_note()})\n")
        print("| knowledge base | entries | median | p99 |\n|---|---|---|---|")
        for name, engine in (("shipped", shipped), (f"+{args.entries:,} generated", large)):
            med, p99 = latency(engine, questions)
            print(f"| {name} | {len(engine.kb.entries):,} | {med:.3f} ms | {p99:.3f} ms |")

        print("\n### Generated look-alikes against the labelled questions\n")
        print("| set | top-1 shipped | top-1 with generated | refusals shipped | refusals with "
              "generated | answered by a generated entry |\n|---|---|---|---|---|---|")
        for name in ("devset", "holdout", "holdout2"):
            items = load_set(name)
            a, b = evaluate(items, predict(shipped)), evaluate(items, predict(large))
            lost = stolen(large, items)
            print(f"| {name} | {a.top1:.1%} | {b.top1:.1%} | {a.refusal_rate:.1%} "
                  f"| {b.refusal_rate:.1%} | {len(lost)} |")
            for q, got in lost[:5]:
                print(f"|   {q} → {got} | | | | | |")

        if not args.skip_reload:
            print(f"\n### Hot reload of the +{args.entries:,} base beside chats "
                  f"(a question every {CHAT_INTERVAL_S * 1000:.0f} ms; {load_note()})\n")
            print("| reload | took | answers | p50 | p99 | max |\n|---|---|---|---|---|---|")
            print(reload_figures("none (baseline)", lambda: time.sleep(3), shipped, questions))
            with tempfile.TemporaryDirectory() as fresh:
                print(reload_figures(
                    "changed base: build in a worker process",
                    lambda: load_engine(big, directory=Path(fresh), worker=True), shipped, questions))
                print(reload_figures(
                    "unchanged base: load the stored engine",
                    lambda: load_engine(big, directory=Path(fresh), worker=True), shipped, questions))
            if args.old_reload:
                print(reload_figures("before: Engine.from_folder in a thread",
                                     lambda: Engine.from_folder(big), shipped, questions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
