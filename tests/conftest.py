"""Shared fixtures: the engine on the shipped knowledge base, built once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.engine import Dialogues, Engine
from bot.engine.knowledge import DEFAULT_DIR

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
