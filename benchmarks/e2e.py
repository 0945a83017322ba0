"""End-to-end benchmark: an update in through python-telegram-bot, the reply out, in one process.

The bot runs as `python -m bot run` runs it (bot.telegram.ops.serve: persistence written after
each update, analytics recorded) against the tests' fake Bot API server on 127.0.0.1, in long
polling and in webhook mode. Two loads per mode:

- burst: N questions at once, Telegram's 30 messages/second lifted (send_rate=0), to measure
  what one process can do; latency includes the time an update waits behind the others;
- paced: questions at a steady rate below Telegram's limit, with the limit on (as deployed),
  to measure the latency a user sees;
- burst with a round trip: the fake answers each call after --rtt ms (a server far from
  Telegram's), the limit on: chats are handled side by side, so Telegram's limit rather than
  the round trip sets the pace.

Latency: from the moment the update is handed over (queued at the fake for polling, POSTed for
the webhook) to the moment the fake receives the reply's sendMessage. The fake server shares
the process and its CPU, so the figures are a lower bound of what the bot alone can do.

Run: python -m benchmarks.e2e [--updates 2000] [--paced 200] [--rate 20] [--rtt 50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import platform
import socket
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.analytics import Analytics
from bot.engine import Engine
from bot.settings import DEFAULT_SEND_RATE, Settings
from bot.telegram import build_application
from bot.telegram.health import percentile
from bot.telegram.ops import OpsApplication, serve
from bot.telegram.webserver import SECRET_HEADER
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

QUESTIONS = ("社保卡能坐地铁吗", "外婆能用我的医保吗", "共济", "灵活就业怎么交社保", "怎么给我妈绑定家庭共济",
             "abc", "电子社保卡在哪里领", "跨省能共济吗")
USERS = 200  # distinct private chats the questions come from
FIRST_USER_ID = 700_001
BURST_UPDATES, PACED_UPDATES, PACED_RATE = 2000, 200, 20.0
RTT_MS, RTT_UPDATES = 50.0, 200  # the simulated round trip to Telegram and its burst
QUICK_BURST, QUICK_PACED, QUICK_RTT_UPDATES = 300, 60, 40
WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections for a webhook
WEBHOOK_SECRET = "benchmark-secret"
WEBHOOK_URL = "https://bench.invalid/telegram"
START_TIMEOUT_S, RUN_TIMEOUT_S = 30.0, 600.0
CHECK_EVERY_S = 0.02  # how often the benchmark looks for the last reply
TELEGRAM_LIMIT = DEFAULT_SEND_RATE  # messages per second Telegram allows one bot (about 30)


class DistantBotApi(FakeBotApi):
    """The fake Bot API, answering every call but getUpdates after a round trip of `rtt` seconds."""

    def __init__(self, rtt: float = 0.0) -> None:
        super().__init__(DEFAULT_TOKEN)
        self.rtt = rtt

    async def _dispatch(self, method: str, handler: Any, params: dict[str, Any]) -> Any:
        if self.rtt and method != "getUpdates":
            await asyncio.sleep(self.rtt)
        return await super()._dispatch(method, handler, params)


@dataclasses.dataclass
class Result:
    """One scenario: how many updates, how long, and each update's latency in ms."""

    mode: str
    load: str
    updates: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        """Updates handled per second, first update in to last reply out."""
        return self.updates / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        """The scenario as a Markdown table row."""
        ordered = sorted(self.latencies)
        return (f"| {self.mode} | {self.load} | {self.updates} | {self.per_second:,.0f} | "
                f"{percentile(ordered, 0.50):.1f} | {percentile(ordered, 0.99):.1f} |")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(CHECK_EVERY_S)


async def scenario(engine: Engine, mode: str, updates: int, rate: float | None,
                   rtt_ms: float = 0.0) -> Result:
    """Run the bot in `mode`, send `updates` questions (at `rate`/s, or all at once), measure.

    The send limit is on when pacing or simulating a round trip, off for a plain burst.
    """
    api = DistantBotApi(rtt_ms / 1000)
    await api.start()
    with tempfile.TemporaryDirectory(prefix="shebao-e2e-") as tmp:
        webhook = mode == "webhook"
        settings = Settings(
            telegram_bot_token=DEFAULT_TOKEN, telegram_base_url=api.base_url,
            data_dir=Path(tmp),
            send_rate=DEFAULT_SEND_RATE if rate or rtt_ms else 0,
            webhook_url=WEBHOOK_URL if webhook else None,
            webhook_secret=WEBHOOK_SECRET if webhook else None,
            webhook_listen="127.0.0.1", webhook_port=free_port(),
        )
        app = build_application(settings, engine, analytics=Analytics.open(tmp))
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, stop))
        try:
            await wait_for(lambda: app.ops.health.ready or task.done(), "the bot", START_TIMEOUT_S)
            if task.done():
                task.result()
            result = await drive(api, app, mode, updates, rate)
            if rtt_ms:
                result.load = f"burst, {rtt_ms:g} ms round trip, limit on"
            return result
        finally:
            stop.set()
            await asyncio.wait_for(task, START_TIMEOUT_S)
            await api.stop()


async def drive(api: FakeBotApi, app: OpsApplication, mode: str, updates: int,
                rate: float | None) -> Result:
    """Hand the updates over, wait for every reply, and pair replies with updates per chat."""
    people = [api.user(FIRST_USER_ID + i, f"用户{i}") for i in range(USERS)]
    chats = [api.private_chat(user) for user in people]
    sent_at: dict[int, deque[float]] = defaultdict(deque)
    update_ids = itertools.count(1)
    connector = aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        assert app.ops.web is not None or mode == "polling"
        url = f"http://127.0.0.1:{app.ops.web.port if app.ops.web else 0}/telegram"

        async def hand_over(i: int) -> None:
            user, chat = people[i % USERS], chats[i % USERS]
            text = QUESTIONS[i % len(QUESTIONS)]
            sent_at[int(chat["id"])].append(time.monotonic())
            if mode == "polling":
                await api.send_text(chat, user, text)
                return
            message = {"message_id": i + 1, "from": user, "chat": chat, "date": int(time.time()),
                       "text": text}
            update = {"update_id": next(update_ids), "message": message}
            async with session.post(url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}) as r:
                if r.status != 200:
                    raise RuntimeError(f"webhook answered {r.status}")

        started = time.monotonic()
        if rate:
            pending: list[Awaitable[None]] = []
            for i in range(updates):
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                pending.append(asyncio.ensure_future(hand_over(i)))
            await asyncio.gather(*pending)
        else:
            await asyncio.gather(*(hand_over(i) for i in range(updates)))
        await wait_for(lambda: len(api.calls_of("sendMessage")) >= updates, "every reply",
                       RUN_TIMEOUT_S)
    replies = api.calls_of("sendMessage")
    latencies = [(call.at - sent_at[int(call.params["chat_id"])].popleft()) * 1000
                 for call in replies[:updates]]
    seconds = max(call.at for call in replies) - started
    load = f"paced {rate:g}/s, limit {TELEGRAM_LIMIT:g} msg/s on" if rate else "burst, limit off"
    return Result(mode, load, updates, seconds, latencies)


async def main_async(burst: int, paced: int, rate: float, rtt_ms: float,
                     rtt_updates: int) -> list[Result]:
    """Every scenario, one after the other."""
    engine = Engine.from_folder(None)
    results = []
    for mode in ("polling", "webhook"):
        results.append(await scenario(engine, mode, burst, None))
        results.append(await scenario(engine, mode, paced, rate))
        if rtt_ms:
            results.append(await scenario(engine, mode, rtt_updates, None, rtt_ms))
    return results


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    head = ["| mode | load | updates | updates/s | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|---:|"]
    return "\n".join([*head, *(r.row() for r in results)])


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m benchmarks.e2e`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=BURST_UPDATES, help="updates in each burst")
    parser.add_argument("--paced", type=int, default=PACED_UPDATES, help="updates in each paced run")
    parser.add_argument("--rate", type=float, default=PACED_RATE, help="updates/s of the paced runs")
    parser.add_argument("--rtt", type=float, default=RTT_MS,
                        help="simulated round trip to Telegram in ms (0: skip that run)")
    parser.add_argument("--rtt-updates", type=int, default=RTT_UPDATES,
                        help="updates in the burst with a round trip")
    parser.add_argument("--quick", action="store_true", help="small runs, for a smoke test")
    args = parser.parse_args(argv)
    burst, paced, rtt_updates = ((QUICK_BURST, QUICK_PACED, QUICK_RTT_UPDATES) if args.quick
                                 else (args.updates, args.paced, args.rtt_updates))
    for name in ("NO_PROXY", "no_proxy"):  # everything here is on 127.0.0.1
        os.environ[name] = "127.0.0.1,localhost"
    with contextlib.suppress(KeyboardInterrupt):
        results = asyncio.run(main_async(burst, paced, args.rate, args.rtt, rtt_updates))
        print(f"python {platform.python_version()} on {platform.machine()}, "
              f"{os.cpu_count()} CPU(s); one process, fake Bot API on 127.0.0.1\n")
        print(table(results))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
