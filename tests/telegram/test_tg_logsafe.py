"""`python -m bot run` never writes its token: a rejected token at start, at DEBUG, in any output."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

from .ops_helpers import bot_env, bot_process, wait_exit

TOKEN_SECRET = DEFAULT_TOKEN.split(":", 1)[1]
EXIT_STARTUP_FAILED = 3


async def test_a_rejected_token_is_not_written_anywhere(api: FakeBotApi, settings: Settings,
                                                        tmp_path: Path) -> None:
    """Telegram rejects the token (getMe 401): the bot exits 3, saying so, and neither its log
    (at DEBUG: every request URL holds the token) nor its message on stderr shows the token."""
    api.fail_next("getMe", error_code=401, times=10)
    env = bot_env(settings, LOG_LEVEL="DEBUG", WEBHOOK_SECRET="a-webhook-secret-value")
    with bot_process(tmp_path, env) as process:
        assert await wait_exit(process) == EXIT_STARTUP_FAILED
    output = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert api.calls_of("getMe") and "InvalidToken" in output and "[token hidden]" in output
    assert TOKEN_SECRET not in output
