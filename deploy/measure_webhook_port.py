"""Measure the webhook port under hostile clients, on 127.0.0.1 only (figures in OPERATIONS.md).

    python deploy/measure_webhook_port.py [--stalled 1100 3000] [--flood 3000]

A child process runs the bot's HTTP server (bot.telegram.webserver.WebServer with its defaults,
/healthz and the webhook feeding a stand-in for the Application); this process opens stalled
connections (part of a request head, then nothing), checks that /healthz and an update still get
through, waits until the server has closed every stalled connection, and sends a flood of
wrong-secret requests, counting the log lines they cause.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
SECRET = "measure-secret"
UPDATE = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi",
                                      "chat": {"id": 1, "type": "private"}}}
TIMEOUT = aiohttp.ClientTimeout(total=30)
SERVER_NOFILE = 1024  # the common default soft limit without LimitNOFILE=


async def serve() -> None:
    """The child: serve on a free port, print it, run until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from bot.engine import Engine
    from bot.logsafe import install
    from bot.telegram.health import Health
    from bot.telegram.webserver import Webhook, WebServer

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install()
    engine = Engine.from_folder(None)
    health = Health(lambda: engine, "webhook")
    health.ready_check = lambda: True
    application = SimpleNamespace(running=True, update_queue=asyncio.Queue(), bot=None)
    server = WebServer(health, Webhook(application, SECRET, health), "/telegram")  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    print(server.port, server.max_connections, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    print(json.dumps(dict(vars(health.counters))), flush=True)
    await server.stop()


async def stalled_round(port: int, count: int) -> dict[str, object]:
    """Open `count` stalled connections; /healthz and an update meanwhile; time until all closed."""
    conns = []
    started = time.monotonic()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")
        conns.append((reader, writer))
    opened_s = time.monotonic() - started
    statuses, worst = [], 0.0
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        for _ in range(20):
            t = time.monotonic()
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                statuses.append(response.status)
            worst = max(worst, time.monotonic() - t)
        async with session.post(f"http://127.0.0.1:{port}/telegram", data=json.dumps(UPDATE),
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            update_status = response.status

    async def closed(reader: asyncio.StreamReader) -> float:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        return time.monotonic() - started

    closed_after = await asyncio.gather(*(closed(r) for r, _ in conns))
    for _, writer in conns:
        writer.close()
    return {"stalled": count, "opened_in_s": round(opened_s, 2),
            "healthz_statuses": sorted(set(statuses)), "healthz_worst_ms": round(worst * 1000, 1),
            "update_status": update_status,
            "all_closed_by_server_after_s": round(max(closed_after), 1)}


async def flood(port: int, count: int) -> float:
    """`count` wrong-secret requests over one keep-alive connection; seconds taken."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        for _ in range(count):
            async with session.post(f"http://127.0.0.1:{port}/telegram", data=b"{}",
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403
    return time.monotonic() - started


async def measure(stalled: list[int], flood_count: int) -> None:
    """Run the child, the rounds and the flood; print what was measured."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the client side needs the sockets

    def server_limit() -> None:  # the server gets the usual default soft limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(SERVER_NOFILE, hard), hard))

    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=log, text=True,
                                 preexec_fn=server_limit)
        assert child.stdout is not None and child.stdin is not None
        port, limit = map(int, child.stdout.readline().split())
        print(f"server: port {port}, at most {limit} connections "
              f"(server soft RLIMIT_NOFILE {SERVER_NOFILE})")
        for count in stalled:
            print(json.dumps(await stalled_round(port, count)))
        seconds = await flood(port, flood_count)
        child.stdin.close()
        counters = json.loads(child.stdout.readline())
        child.wait(timeout=30)
        log.seek(0)
        lines = log.read().splitlines()
    refused_lines = [ln for ln in lines if "without the right secret" in ln]
    print(json.dumps({"wrong_secret_requests": flood_count, "seconds": round(seconds, 1),
                      "log_lines": len(refused_lines), "log_lines_total": len(lines),
                      "counters": counters}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stalled", type=int, nargs="+", default=[1100, 3000])
    parser.add_argument("--flood", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(serve() if args.serve else measure(args.stalled, args.flood))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
