"""Measure what writing the bot's state costs per update with many chats (figures in OPERATIONS.md).

    python deploy/measure_state.py [--chats 50000] [--questions 20] [--updates 300]

Fills a state file (bot.telegram.persistence.StatePersistence, in a temporary folder) with
`--chats` group chats of `--questions` remembered questions each (one busy chat with the most a
chat keeps, 200), then replays `--updates` updates, each noting a new question in a random chat
and writing the state as the bot does after every update. Prints the time per update: on the
event loop (what PTB hands over is pickled there) and in all (the write, fsync included).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram.ext import ExtBot  # noqa: E402

from bot.telegram.memory import REPLY_MEMORY, ChatData  # noqa: E402
from bot.telegram.persistence import StatePersistence  # noqa: E402

TOKEN = "123456789:AAMeasureTokenForShebaoBotState_0123456"
QUESTION = "外婆能用我的医保个人账户吗?我在苏州工作,她在南通"


def chat(questions: int, first_id: int = 1) -> ChatData:
    """A group's memory with `questions` answered questions."""
    data = ChatData()
    for i in range(first_id, first_id + questions):
        data.remember(i, [i + 100_000], QUESTION)
        data.note_asker(i + 100_000, 42, "answer")
    return data


async def measure(folder: Path, chats: int, questions: int, updates: int) -> None:
    path = folder / "telegram-state.sqlite3"
    persistence = StatePersistence(path)
    persistence.set_bot(ExtBot(TOKEN))
    await persistence.get_chat_data()
    started = time.perf_counter()
    await persistence.update_chat_data(-1, chat(REPLY_MEMORY))
    for chat_id in range(2, chats + 1):
        await persistence.update_chat_data(-chat_id, chat(questions))
    await persistence.flush()
    filled = time.perf_counter() - started
    await persistence.close()

    again = StatePersistence(path)
    again.set_bot(ExtBot(TOKEN))
    started = time.perf_counter()
    memory = await again.get_chat_data()
    loaded = time.perf_counter() - started
    rng = random.Random(11)
    on_loop: list[float] = []
    total: list[float] = []
    for n in range(updates):
        chat_id = -1 if n % 10 == 0 else -rng.randint(2, chats)
        data = memory[chat_id]
        data.remember(1_000_000 + n, [2_000_000 + n], QUESTION)
        began = time.perf_counter()
        await again.update_chat_data(chat_id, ChatData(data))  # PTB hands over a deep copy
        noted = time.perf_counter()
        await again.flush_if_dirty()
        done = time.perf_counter()
        on_loop.append((noted - began) * 1000)
        total.append((done - began) * 1000)
    await again.close()
    size = path.stat().st_size / 1e6

    def line(name: str, values: list[float]) -> str:
        values = sorted(values)
        p95 = values[int(len(values) * 0.95) - 1]
        return f"{name}: median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {values[-1]:.2f} ms"

    print(f"{chats} chats ({questions} questions each, one with {REPLY_MEMORY}); file {size:.1f} MB")
    print(f"filled in {filled:.1f} s; read at start in {loaded:.2f} s")
    print(f"{updates} updates, one changed chat each, written after each (synchronous=FULL):")
    print("  " + line("on the event loop", on_loop))
    print("  " + line("in all, fsync included", total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50_000)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(Path(folder), args.chats, args.questions, args.updates))


if __name__ == "__main__":
    main()
