"""`python -m bot run` as a real process, when things go wrong around it: a SIGHUP while it
starts, damaged files or a read-only data folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.analytics import DB_FILE
from bot.engine import Engine
from bot.settings import Settings
from bot.telegram.app import EXIT_OK
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, Person
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

LOADING = "loading the knowledge base"
QUESTION = "社保卡能坐地铁吗"  # logged before the (slow) knowledge base build


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


async def check_starts_and_answers(tmp_path: Path, settings: Settings, person: Person,
                                   engine: Engine) -> dict[str, Any]:
    """Start the bot on `settings`, check it answers and stops cleanly; its /healthz report."""
    port = free_port()
    env = bot_env(settings, HEALTH_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1")
    log = tmp_path / "bot.log"
    with bot_process(tmp_path, env) as process:
        await wait_ready(port, process, log)
        _, report = await get_json(health_url(port))
        (answer,) = await person.say(QUESTION)
        assert answer["text"] == engine.answer(QUESTION).text
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == EXIT_OK, log.read_text()
    return report


async def test_damaged_files_do_not_stop_the_start(
    api: FakeBotApi, settings: Settings, tmp_path: Path, person: Person, engine: Engine,
) -> None:
    """A state file and an analytics database that are garbage: the bot starts and answers, the
    files are set aside, the log and /healthz say so."""
    data = settings.data_dir
    data.mkdir(parents=True)
    settings.persistence_path.write_bytes(b"\x00garbage" * 500)
    (data / DB_FILE).write_bytes(b"not a database" * 500)
    report = await check_starts_and_answers(tmp_path, settings, person, engine)
    assert report["status"] == "degraded"
    assert {"state", "analytics-file"} <= set(report["problems"])
    assert "set aside" in report["problems"]["state"]
    assert list(data.glob(f"{settings.persistence_path.name}.damaged-*"))
    assert list(data.glob(f"{DB_FILE}.damaged-*"))
    assert "set aside" in (tmp_path / "bot.log").read_text()


@pytest.fixture
def read_only_data(settings: Settings) -> Iterator[Path]:
    """The data folder, read-only (mode 555; for root, which ignores modes, a read-only bind
    mount, or the test is skipped where mounting is not allowed)."""
    folder = settings.data_dir
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mount = ["mount", "--bind", str(folder), str(folder)]
    remount = ["mount", "-o", "remount,ro,bind", str(folder)]
    if shutil.which("mount") is None or subprocess.run(mount, check=False, capture_output=True).returncode:
        pytest.skip("running as root and cannot mount: no way to make a folder read-only")
    try:
        if subprocess.run(remount, check=False, capture_output=True).returncode:
            pytest.skip("cannot remount read-only")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False, capture_output=True)


async def test_a_read_only_data_folder_does_not_stop_the_start(
    api: FakeBotApi, settings: Settings, tmp_path: Path, person: Person, engine: Engine,
    read_only_data: Path,
) -> None:
    """Nothing can be written: the bot starts and answers (state in memory, no analytics), and
    /healthz says what is off."""
    report = await check_starts_and_answers(tmp_path, settings, person, engine)
    assert report["status"] == "degraded"
    assert {"state", "analytics"} <= set(report["problems"])
    assert list(read_only_data.iterdir()) == []
