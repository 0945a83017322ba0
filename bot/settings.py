"""Runtime settings read from environment variables and a .env file (the environment wins)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_DATA_DIR = Path("data")
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_DIALOGUE_TIMEOUT = 15 * 60.0  # seconds of silence after which a guided dialogue ends
DEFAULT_WEBHOOK_LISTEN = "0.0.0.0"  # noqa: S104 - a webhook must listen beyond localhost
DEFAULT_WEBHOOK_PORT = 8443
DEFAULT_GROUP_COOLDOWN = 60.0  # seconds between the bot's unprompted answers in one group
PERSISTENCE_FILE = "telegram-state.pickle"
BOT_PATH = "/bot"  # a Bot API server serves <base>/bot<token>/<method>
FILE_PATH = "/file/bot"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _text(env: Mapping[str, str | None], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _number(env: Mapping[str, str | None], name: str, default: float, *, positive: bool = True) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if positive and value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _port(env: Mapping[str, str | None], name: str, default: int | None) -> int | None:
    raw = _text(env, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a TCP port")
    return int(raw)


def _ids(env: Mapping[str, str | None], name: str) -> frozenset[int]:
    raw = _text(env, name) or ""
    parts = [p for p in raw.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return frozenset(int(p) for p in parts)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} must be Telegram user ids separated by commas") from None


def _bot_url(url: str | None) -> str | None:
    """A Bot API base URL ending in /bot, as python-telegram-bot appends the token to it."""
    if url is None:
        return None
    url = url.rstrip("/")
    return url if url.endswith(BOT_PATH) else url + BOT_PATH


def _file_url(base_url: str | None, file_url: str | None) -> str | None:
    """The file download URL: as given, or derived from a self-hosted server's base URL."""
    if file_url:
        return _bot_url(file_url)
    if base_url:
        return base_url.removesuffix(BOT_PATH) + FILE_PATH
    return None


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment; build it with Settings.from_env()."""

    telegram_bot_token: str | None = None
    telegram_base_url: str | None = None
    telegram_base_file_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = DEFAULT_LOG_LEVEL
    dialogue_timeout: float = DEFAULT_DIALOGUE_TIMEOUT
    # Read now, used by later features (webhook mode, health check, group rules).
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    health_port: int | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    group_cooldown: float = DEFAULT_GROUP_COOLDOWN

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | str | None = ".env"
    ) -> Settings:
        """Read the settings; values in `environ` (default os.environ) override the .env file."""
        env: dict[str, str | None] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update(dotenv_values(env_file))
        env.update(os.environ if environ is None else environ)
        level = (_text(env, "LOG_LEVEL") or DEFAULT_LOG_LEVEL).upper()
        if not isinstance(logging.getLevelName(level), int):
            raise SettingsError(f"LOG_LEVEL={level!r} is not a logging level (DEBUG, INFO, WARNING…)")
        base_url = _bot_url(_text(env, "TELEGRAM_BASE_URL"))
        return cls(
            telegram_bot_token=_text(env, "TELEGRAM_BOT_TOKEN"),
            telegram_base_url=base_url,
            telegram_base_file_url=_file_url(base_url, _text(env, "TELEGRAM_BASE_FILE_URL")),
            data_dir=Path(_text(env, "BOT_DATA_DIR") or DEFAULT_DATA_DIR),
            log_level=level,
            dialogue_timeout=_number(env, "DIALOGUE_TIMEOUT", DEFAULT_DIALOGUE_TIMEOUT),
            webhook_url=_text(env, "WEBHOOK_URL"),
            webhook_secret=_text(env, "WEBHOOK_SECRET"),
            webhook_listen=_text(env, "WEBHOOK_LISTEN") or DEFAULT_WEBHOOK_LISTEN,
            webhook_port=_port(env, "WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT) or DEFAULT_WEBHOOK_PORT,
            health_port=_port(env, "HEALTH_PORT", None),
            admin_ids=_ids(env, "ADMIN_IDS"),
            group_cooldown=_number(env, "GROUP_COOLDOWN", DEFAULT_GROUP_COOLDOWN, positive=False),
        )

    @property
    def persistence_path(self) -> Path:
        """Where the Telegram layer keeps dialogue state and user data between restarts."""
        return self.data_dir / PERSISTENCE_FILE
