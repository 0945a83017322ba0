"""`python -m bot run` as a real process: kill -9 mid-dialogue, SIGTERM, SIGHUP, webhook settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.analytics import read_events
from bot.engine import Engine
from bot.engine.cache import CACHE_ENV
from bot.settings import Settings
from bot.telegram import texts
from bot.telegram.app import EXIT_BAD_SETTINGS, EXIT_OK, EXIT_STARTUP_FAILED
from bot.telegram.memory import STATE_KEY
from bot.telegram.persistence import read_state
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, Person, wait_until
from .ops_helpers import (
    PROCESS_START_TIMEOUT,
    REPO,
    bot_env,
    bot_process,
    free_port,
    get_json,
    health_url,
    post,
    wait_exit,
)
from .test_tg_dialogue import begin, prompt

pytestmark = pytest.mark.slow  # subprocesses running the bot

SECRET = "process-test-secret"
IN_FLIGHT = 30  # updates queued when SIGTERM arrives
WRITE_TIMEOUT = 2.0  # seconds within which a dialogue step must be on disk


async def wait_ready(port: int, process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    """Poll /healthz until the process reports ready; its report."""
    report: dict[str, Any] = {}

    async def ready() -> bool:
        nonlocal report
        if process.poll() is not None:
            raise AssertionError(f"the bot exited with {process.returncode}:\n{log.read_text()}")
        try:
            status, report = await get_json(health_url(port))
        except OSError:  # not listening yet
            return False
        return status == 200

    async with asyncio.timeout(PROCESS_START_TIMEOUT):
        while not await ready():
            await asyncio.sleep(0.05)
    return report


def saved_step(path: Path, user_id: int) -> str | None:
    """The dialogue step saved on disk for a user (the file is replaced whole, never half-written)."""
    if not path.is_file():
        return None
    users, _ = read_state(path)
    state = users.get(user_id, {}).get(STATE_KEY)
    return str(state["step"]) if state else None


async def test_kill_9_mid_dialogue_and_restart_loses_nothing(
    api: FakeBotApi, settings: Settings, person: Person, tmp_path: Path, engine: Engine
) -> None:
    """Each step is on disk as soon as it is shown; after kill -9 and a restart the dialogue goes on."""
    port = free_port()
    env = bot_env(settings, HEALTH_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1")
    log = tmp_path / "bot.log"
    with bot_process(tmp_path, env) as first:
        await wait_ready(port, first, log)
        message = await begin(person, engine)
        await person.press(message, "父母")
        assert prompt(engine, "cross") in person.current(message)["text"]
        await wait_until(lambda: saved_step(settings.persistence_path, person.id) == "cross",
                         "the step to be written", api, timeout=WRITE_TIMEOUT)
        first.send_signal(signal.SIGKILL)
        assert await wait_exit(first) == -signal.SIGKILL

    with bot_process(tmp_path, env) as second:
        await wait_ready(port, second, log)
        same = await person.press(message, "在同一个省")
        assert prompt(engine, "method") in same.message["text"]
        chosen = await person.press(message, person.labels(same.message)[0])
        assert "第 1/" in chosen.message["text"]
        second.send_signal(signal.SIGTERM)
        assert await wait_exit(second) == EXIT_OK
    assert saved_step(settings.persistence_path, person.id) is not None


async def test_sigterm_finishes_updates_in_flight_and_sighup_reloads(
    api: FakeBotApi, settings: Settings, tmp_path: Path
) -> None:
    """Webhook mode: SIGHUP reloads; on SIGTERM every update already taken is answered and saved."""
    port = free_port()
    env = bot_env(settings, WEBHOOK_URL="https://bot.example.org/telegram", WEBHOOK_SECRET=SECRET,
                  WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
    log = tmp_path / "bot.log"
    people = [Person(api, f"用户{i}") for i in range(IN_FLIGHT)]
    with bot_process(tmp_path, env) as process:
        report = await wait_ready(port, process, log)
        assert report["mode"] == "webhook" and api.calls_of("setWebhook")

        process.send_signal(signal.SIGHUP)
        async with asyncio.timeout(STEP_TIMEOUT):
            while (await get_json(health_url(port)))[1]["counters"]["reloads"] < 1:
                await asyncio.sleep(0.05)

        for who in people:
            await api.send_text(who.chat, who.user, "社保卡能坐地铁吗")
        url = f"http://127.0.0.1:{port}/telegram"
        statuses = await asyncio.gather(*(post(url, u, SECRET) for u in api.injected_updates))
        assert statuses == [200] * IN_FLIGHT
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == EXIT_OK, log.read_text()
    assert len(api.calls_of("sendMessage")) == IN_FLIGHT
    assert {m["chat"]["id"] for m in api.sent_messages()} == {p.id for p in people}
    questions = [e for e in read_events(settings.data_dir) if e.kind == "answered"]
    assert len(questions) == IN_FLIGHT  # analytics flushed on the way out
    assert len(read_state(settings.persistence_path)[1]) == IN_FLIGHT  # and the state
    text = log.read_text()
    assert "SIGTERM: shutting down gracefully" in text and "knowledge base reloaded" in text

def test_webhook_without_secret_exits_with_code_2(tmp_path: Path) -> None:
    """WEBHOOK_URL without WEBHOOK_SECRET: a clear error in both languages, exit code 2."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": "1:abc",
           "WEBHOOK_URL": "https://bot.example.org/telegram"}
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == EXIT_BAD_SETTINGS
    assert result.stderr.strip() == texts.WEBHOOK_SECRET_MISSING


def test_unreachable_telegram_exits_with_code_3(tmp_path: Path) -> None:
    """Telegram (here: a closed port) cannot be reached at start: a clear error, exit code 3."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "NO_PROXY": "*",
           "TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_BASE_URL": f"http://127.0.0.1:{free_port()}",
           "BOT_DATA_DIR": str(tmp_path / "data"), CACHE_ENV: os.environ[CACHE_ENV]}
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == EXIT_STARTUP_FAILED, result.stderr
    assert "无法启动" in result.stderr and "could not start" in result.stderr
