"""Helpers for the operations tests: serve() in-process, webhook posts, ports, a bot subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.engine import Engine
from bot.engine.cache import CACHE_ENV
from bot.settings import Settings
from bot.telegram.ops import OpsApplication
from bot.telegram.webserver import SECRET_HEADER

from .conftest import STEP_TIMEOUT, running, wait_until

REPO = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=STEP_TIMEOUT)
PROCESS_START_TIMEOUT = 20.0  # seconds for `python -m bot run` to load and start polling
PROCESS_STOP_TIMEOUT = 15.0  # seconds for it to shut down after SIGTERM

JsonDict = dict[str, Any]


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(settings: Settings, engine: Engine, **kwargs: Any) -> AsyncIterator[OpsApplication]:
    """The bot as `python -m bot run` runs it (ops.serve), until the block ends."""
    async with running(settings, engine, **kwargs) as app:
        yield app


def webhook_url(app: OpsApplication) -> str:
    """Where the running webhook server takes updates."""
    assert app.ops.web is not None and app.ops.web.port
    return f"http://127.0.0.1:{app.ops.web.port}{app.ops.settings.webhook_route}"


def health_url(port: int) -> str:
    """The /healthz address on a local port."""
    return f"http://127.0.0.1:{port}/healthz"


async def post(url: str, body: JsonDict | bytes, secret: str | None) -> int:
    """POST an update (or raw bytes) as Telegram would; returns the HTTP status."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT, trust_env=False) as session, \
            session.post(url, data=data, headers=headers) as response:
        return response.status


async def get_json(url: str) -> tuple[int, JsonDict]:
    """GET a JSON document; returns the status and the document."""
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT, trust_env=False) as session, \
            session.get(url) as response:
        return response.status, await response.json()


def bot_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for `python -m bot run` against the fake, with only these settings. The
    engine comes from the session's cache (tests/conftest.py), built once for every process."""
    env = {
        CACHE_ENV: os.environ[CACHE_ENV],
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "NO_PROXY": "*",
        "no_proxy": "*",
        "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token or "",
        "TELEGRAM_BASE_URL": settings.telegram_base_url or "",
        "BOT_DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "INFO",
    }
    return {**env, **extra}


@contextlib.contextmanager
def bot_process(cwd: Path, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m bot run` as a child process, killed (SIGKILL) when the block ends if still alive."""
    log = (cwd / "bot.log").open("a", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=PROCESS_STOP_TIMEOUT)
        log.close()


async def wait_exit(process: subprocess.Popen[str], timeout: float = PROCESS_STOP_TIMEOUT) -> int:
    """Wait (without blocking the event loop) until the child exits; its exit code."""
    await wait_until(lambda: process.poll() is not None, "the bot process to exit", timeout=timeout)
    return int(process.returncode)
