"""`python -m bot run` as a real process, when things go wrong around it: a SIGHUP while it
starts, damaged files or a read-only data folder."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.telegram.app import EXIT_OK
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT
from .ops_helpers import (
    PROCESS_START_TIMEOUT,
    bot_env,
    bot_process,
    free_port,
    get_json,
    health_url,
    wait_exit,
)
from .test_tg_process import wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]  # subprocesses running the bot

LOADING = "loading the knowledge base"  # logged before the (slow) knowledge base build


async def wait_for_log(log: Path, text: str, timeout: float = PROCESS_START_TIMEOUT) -> None:
    """Wait until the bot's log holds `text`."""
    async with asyncio.timeout(timeout):
        while text not in (log.read_text(encoding="utf-8") if log.exists() else ""):
            await asyncio.sleep(0.01)


async def test_sighup_during_start_up_reloads_once_started(
    api: FakeBotApi, settings: Settings, tmp_path: Path,
) -> None:
    """A SIGHUP while the knowledge base loads does not end the bot: it starts, reloads, and
    stops cleanly on SIGTERM."""
    port = free_port()
    env = bot_env(settings, HEALTH_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1")
    log = tmp_path / "bot.log"
    with bot_process(tmp_path, env) as process:
        await wait_for_log(log, LOADING)
        process.send_signal(signal.SIGHUP)  # while the knowledge base is being built
        await wait_ready(port, process, log)
        async with asyncio.timeout(STEP_TIMEOUT):
            while (await get_json(health_url(port)))[1]["counters"]["reloads"] < 1:
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == EXIT_OK, log.read_text()
