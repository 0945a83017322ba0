"""Settings from environment variables and a .env file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_DIALOGUE_TIMEOUT, Settings, SettingsError


def test_defaults_without_anything(tmp_path: Path) -> None:
    """Nothing set: no token, ./data, INFO, 15-minute dialogues."""
    settings = Settings.from_env({}, env_file=tmp_path / "missing.env")
    assert settings.telegram_bot_token is None
    assert settings.data_dir == Path("data")
    assert settings.log_level == "INFO"
    assert settings.dialogue_timeout == DEFAULT_DIALOGUE_TIMEOUT == 900
    assert settings.persistence_path == Path("data") / "telegram-state.pickle"
    assert settings.admin_ids == frozenset() and settings.webhook_url is None


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    """The .env file fills in what the environment does not set."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "TELEGRAM_BOT_TOKEN=from-file\nBOT_DATA_DIR=/srv/bot\nLOG_LEVEL=debug\n"
        "DIALOGUE_TIMEOUT=60\nADMIN_IDS=1, 2;3\nWEBHOOK_PORT=8080\nGROUP_COOLDOWN=0\n"
    )
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": "from-env"}, env_file=env_file)
    assert settings.telegram_bot_token == "from-env"
    assert settings.data_dir == Path("/srv/bot")
    assert settings.log_level == "DEBUG"
    assert settings.dialogue_timeout == 60
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.webhook_port == 8080 and settings.group_cooldown == 0


@pytest.mark.parametrize(
    ("given", "base", "files"),
    [
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
    ],
)
def test_base_url_for_a_self_hosted_server(given: str, base: str, files: str) -> None:
    """TELEGRAM_BASE_URL ends in /bot (the token follows); the file URL is derived from it."""
    settings = Settings.from_env({"TELEGRAM_BASE_URL": given}, env_file=None)
    assert settings.telegram_base_url == base
    assert settings.telegram_base_file_url == files


@pytest.mark.parametrize(
    ("name", "value"),
    [("DIALOGUE_TIMEOUT", "soon"), ("DIALOGUE_TIMEOUT", "0"), ("LOG_LEVEL", "LOUD"),
     ("WEBHOOK_PORT", "99999"), ("ADMIN_IDS", "alice")],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """An unusable value raises SettingsError naming the variable."""
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, env_file=None)
