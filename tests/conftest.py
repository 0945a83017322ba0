"""Shared fixtures: the engine on the shipped knowledge base, built once per test session."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx._transports.default as httpx_transports
import pytest
import pytest_asyncio

from bot.engine import Dialogues, Engine
from bot.engine.cache import CACHE_ENV, load_engine
from bot.engine.knowledge import DEFAULT_DIR
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

FAKE_STOP_TIMEOUT = 5.0  # seconds the fake Bot API may take to stop

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Engines built by the tests (and by the commands they run) are cached in a folder of the
    session's own: built once for the session, never read from or written to the user's cache."""
    folder = tmp_path_factory.mktemp("engine-cache")
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture(scope="session", autouse=True)
def one_ssl_context() -> Iterator[None]:
    """Every HTTP client the tests make (two per bot started: python-telegram-bot's httpx clients)
    shares one default SSL context: each would otherwise read certifi's CA bundle, 30 ms a time.
    No test speaks TLS (the fake Bot API is plain HTTP on 127.0.0.1)."""
    real = httpx_transports.create_ssl_context
    shared = real()

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            return shared
        return real(verify=verify, cert=cert, trust_env=trust_env)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx_transports, "create_ssl_context", create_ssl_context)
        yield


@pytest.fixture(scope="session")
def engine(engine_cache: Path) -> Engine:
    """The engine over knowledge/ (loading and indexing takes about a second), built once and
    stored in the session's cache, so that the commands the tests run load it instead of building."""
    return load_engine(DEFAULT_DIR)


@pytest.fixture(scope="session")
def dialogues(engine: Engine) -> Dialogues:
    """The dialogue runner over the shipped flows."""
    return Dialogues(engine)


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A scratch copy of the shipped knowledge base that a test may break."""
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    return target


@pytest_asyncio.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotApi]:
    """A fresh fake Bot API on 127.0.0.1 for one test; requests to it must bypass any proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeBotApi(DEFAULT_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await asyncio.wait_for(fake.stop(), FAKE_STOP_TIMEOUT)


# Tests that drive the bot through the fake Bot API (each starts a server and the bot, and waits
# for polls and quiet periods), start processes or wait on real time: `pytest -m "not slow"` leaves
# them out for a quick run while editing; the whole suite (CI) keeps them. Marked here, by fixture,
# module or test name, so that the test files need no edit.
SLOW_FIXTURES = ("api",)
SLOW = {
    "tests/telegram/test_tg_process.py": "starts and signals the bot as a process",
    "tests/telegram/test_tg_run.py": "runs `python -m bot run` as a process",
    "tests/telegram/test_tg_analytics.py::test_burst_of_500_updates_with_concurrent_writers": "a burst",
    "tests/telegram/test_tg_concurrency.py": "rate-limited groups, seconds of real time",
    "tests/telegram/test_tg_groups.py::test_a_burst_of_50_questions_is_all_answered": "a burst",
    "tests/telegram/test_tg_groups.py::test_rate_limiter_delays_group_sends": "real time",
    "tests/telegram/test_tg_groups.py::test_auto_answer_only_sure_questions": "many questions in groups",
    "tests/test_report.py::test_html_is_self_contained": "imports matplotlib",
    "tests/test_cli.py::test_subprocess": "starts `python -m bot` as a process",
    "tests/engine/test_cache.py::test_a_build_in_a_worker_process": "starts a worker process",
    "tests/engine/test_cache.py::test_a_worker_reports_a_failing_check": "starts a worker process",
    "tests/engine/test_cache.py::test_the_command_line_imports": "starts a process",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as slow the tests using a SLOW_FIXTURES fixture and those listed in SLOW (a key is a
    module, or a module and the start of a test's name)."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        name = item.nodeid.split("[", 1)[0]
        fixtures = getattr(item, "fixturenames", ())
        if (any(f in fixtures for f in SLOW_FIXTURES) or path in SLOW
                or any(name.startswith(key) for key in SLOW if "::" in key)):
            item.add_marker(pytest.mark.slow)
