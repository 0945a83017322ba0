"""Shared fixtures: the engine on the shipped knowledge base, built once per test session."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.engine import Dialogues, Engine
from bot.engine.knowledge import DEFAULT_DIR
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

FAKE_STOP_TIMEOUT = 5.0  # seconds the fake Bot API may take to stop

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine over knowledge/ (loading and indexing takes about a second)."""
    return Engine.from_folder(DEFAULT_DIR)


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
