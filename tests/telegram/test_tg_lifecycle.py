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
from bot.engine.cache import CACHE_ENV
from bot.settings import Settings
from bot.telegram.app import EXIT_OK
from bot.telegram.processor import MAX_CONCURRENT_UPDATES
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, Person, wait_until
from .ops_helpers import (
    PROCESS_START_TIMEOUT,
    bot_env,
    bot_process,
    free_port,
    get_json,
    health_url,
    post,
    wait_exit,
)
from .test_tg_process import SECRET, wait_ready

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
    # A cache of its own, empty: this start builds the knowledge base, which takes seconds.
    env = bot_env(settings, HEALTH_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1",
                  **{CACHE_ENV: str(tmp_path / "cache")})
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


# ----- shutdown and crashes lose nothing -----

BACKLOG = 30  # distinct questions in one group: Telegram's 20 a minute leaves a backlog
SHUTDOWN_LIMIT_S = 10.0  # Docker kills 10 s after SIGTERM (systemd here after 30 s)
CRASH_BURST = 60  # updates acknowledged by the webhook just before a kill -9


def answered_ids(api: FakeBotApi, chat_id: int) -> list[int]:
    """The ids of the messages the bot's answers in a chat quote, in order sent."""
    return [m["reply_to_message"]["message_id"] for m in api.sent_messages(chat_id)
            if "reply_to_message" in m]


async def test_sigterm_with_a_group_backlog_stops_fast_and_loses_nothing(
    api: FakeBotApi, settings: Settings, tmp_path: Path, engine: Engine,
) -> None:
    """Thirty questions in a group at Telegram's real limit: SIGTERM stops the bot within 10 s;
    what it had not answered is answered after the restart, each question once."""
    port = free_port()
    env = bot_env(settings, HEALTH_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1")
    log = tmp_path / "bot.log"
    group = api.group_chat(-1001234567890, "社保交流群", type="supergroup")
    people = [api.user(5001 + i, f"群友{i}") for i in range(3)]
    with bot_process(tmp_path, env) as process:
        await wait_ready(port, process, log)
        asked = [await api.send_text(group, people[i % 3], f"/ask {QUESTION} 第{i}个")
                 for i in range(BACKLOG)]
        await wait_until(lambda: len(answered_ids(api, group["id"])) >= 10, "the first answers",
                         api, timeout=3 * STEP_TIMEOUT)
        await wait_until(lambda: not api.pending_updates, "every question to be fetched", api)
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process, timeout=SHUTDOWN_LIMIT_S) == EXIT_OK, log.read_text()
    before = len(answered_ids(api, group["id"]))
    assert before < BACKLOG, "nothing was left to answer: no test"
    with bot_process(tmp_path, env) as process:
        await wait_ready(port, process, log)
        await wait_until(lambda: len(answered_ids(api, group["id"])) >= BACKLOG,
                         "the rest to be answered after the restart", api, timeout=3 * STEP_TIMEOUT)
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process, timeout=SHUTDOWN_LIMIT_S) == EXIT_OK
    assert sorted(answered_ids(api, group["id"])) == sorted(m["message_id"] for m in asked)
    assert "left for the next start" in log.read_text()


async def test_kill_9_in_webhook_mode_loses_no_acknowledged_update(
    api: FakeBotApi, settings: Settings, tmp_path: Path,
) -> None:
    """Sixty updates acknowledged with HTTP 200, then kill -9: after the restart every one of
    them is answered (one being handled at the kill may be answered twice)."""
    port = free_port()
    env = bot_env(settings, WEBHOOK_URL="https://bot.example.org/telegram", WEBHOOK_SECRET=SECRET,
                  WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
    log = tmp_path / "bot.log"
    people = [Person(api, f"用户{i}") for i in range(CRASH_BURST)]
    for who in people:
        await api.send_text(who.chat, who.user, QUESTION)
    url = f"http://127.0.0.1:{port}/telegram"
    with bot_process(tmp_path, env) as process:
        await wait_ready(port, process, log)
        statuses = await asyncio.gather(*(post(url, u, SECRET) for u in api.injected_updates))
        assert statuses == [200] * CRASH_BURST
        process.send_signal(signal.SIGKILL)
        assert await wait_exit(process) == -signal.SIGKILL
    answered_before = sum(1 for p in people if p.sent())
    with bot_process(tmp_path, env) as process:
        await wait_ready(port, process, log)
        await wait_until(lambda: all(p.sent() for p in people), "every update to be answered",
                         api, timeout=3 * STEP_TIMEOUT)
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == EXIT_OK
    twice = sum(1 for p in people if len(p.sent()) > 1)
    print(f"kill -9 after {CRASH_BURST} acknowledged: {answered_before} answered before, "
          f"all answered after the restart, {twice} twice")
    assert twice <= MAX_CONCURRENT_UPDATES
