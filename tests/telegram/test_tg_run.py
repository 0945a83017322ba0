"""`python -m bot run` refuses to start without a token or with a broken knowledge base."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.telegram.app import EXIT_BAD_KNOWLEDGE, EXIT_BAD_SETTINGS

pytestmark = pytest.mark.slow  # subprocesses running the bot

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 30.0  # seconds; the command must exit long before this


def run_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot run` in an empty folder (no .env) with only the given variables."""
    clean = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "NO_PROXY": "*", **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", *args], cwd=tmp_path, env=clean, capture_output=True,
        text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
    )


def test_missing_token_exits_with_code_2(tmp_path: Path) -> None:
    """No TELEGRAM_BOT_TOKEN: a clear error in Chinese and English, exit code 2."""
    result = run_bot(tmp_path)
    assert result.returncode == EXIT_BAD_SETTINGS == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "没有设置" in result.stderr and "is not set" in result.stderr


def test_token_in_dotenv_is_read_and_bad_values_exit_2(tmp_path: Path) -> None:
    """A .env file supplies the token; an unusable setting also exits with code 2."""
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=1:abc\nDIALOGUE_TIMEOUT=soon\n")
    result = run_bot(tmp_path)
    assert result.returncode == EXIT_BAD_SETTINGS
    assert "DIALOGUE_TIMEOUT" in result.stderr


def test_broken_knowledge_exits_with_code_1(tmp_path: Path) -> None:
    """With a token but a knowledge folder that fails the check, nothing is started."""
    empty = tmp_path / "kb"
    empty.mkdir()
    result = run_bot(tmp_path, "--knowledge", str(empty), TELEGRAM_BOT_TOKEN="1:abc",
                     TELEGRAM_BASE_URL="http://127.0.0.1:9")
    assert result.returncode == EXIT_BAD_KNOWLEDGE
    assert "知识库" in result.stderr and "knowledge base" in result.stderr
