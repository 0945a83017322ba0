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
    assert settings.persistence_path == Path("data") / "telegram-state.sqlite3"
    assert settings.legacy_persistence_path == Path("data") / "telegram-state.pickle"
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
     ("WEBHOOK_PORT", "99999"), ("ADMIN_IDS", "alice"), ("GROUP_COOLDOWN", "-60"),
     ("GROUP_COOLDOWN", "nan"), ("DIALOGUE_TIMEOUT", "inf"), ("WEBHOOK_URL", "ftp://x/hook")],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """An unusable value raises SettingsError naming the variable."""
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, env_file=None)


def test_group_cooldown_may_be_zero_but_not_negative() -> None:
    """GROUP_COOLDOWN=0 turns the cooldown off; a negative one is refused, saying what is allowed."""
    assert Settings.from_env({"GROUP_COOLDOWN": "0"}, env_file=None).group_cooldown == 0
    with pytest.raises(SettingsError, match=r"GROUP_COOLDOWN='-1' must be 0 \(off\) or more"):
        Settings.from_env({"GROUP_COOLDOWN": "-1"}, env_file=None)


def test_webhook_url_error_says_what_is_accepted() -> None:
    """WEBHOOK_URL takes https:// (what Telegram posts to) and http:// (for local tests)."""
    for url in ("https://bot.example.org/telegram", "http://127.0.0.1:8443/telegram"):
        assert Settings.from_env({"WEBHOOK_URL": url}, env_file=None).webhook_url == url
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"WEBHOOK_URL": "bot.example.org/telegram"}, env_file=None)
    assert "https://" in str(raised.value) and "http://" in str(raised.value)
