"""Runtime settings read from environment variables and a .env file (the environment wins)."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .engine.dialogue import DEFAULT_DIALOGUE_TIMEOUT

DEFAULT_DATA_DIR = Path("data")
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WEBHOOK_LISTEN = "0.0.0.0"  # noqa: S104 - a webhook must listen beyond localhost
DEFAULT_WEBHOOK_PORT = 8443
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
HEALTH_TOKEN_RE = re.compile(r"[A-Za-z0-9_.~-]{16,256}")  # HEALTH_TOKEN: long enough not to guess
WEBHOOK_SCHEMES = ("https", "http")  # Telegram itself only posts to https; http is for tests
DEFAULT_GROUP_COOLDOWN = 10 * 60.0  # seconds before a group is auto-answered the same entry again
DEFAULT_SEND_RATE = 30.0  # messages per second the bot sends at most: Telegram's limit per bot
PERSISTENCE_FILE = "telegram-state.sqlite3"
LEGACY_PERSISTENCE_FILE = "telegram-state.pickle"  # what older versions wrote; taken over
BOT_PATH = "/bot"  # a Bot API server serves <base>/bot<token>/<method>
FILE_PATH = "/file/bot"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _text(env: Mapping[str, str | None], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _number(env: Mapping[str, str | None], name: str, default: float, *, zero_ok: bool = False) -> float:
    """A number of seconds: greater than 0, or with `zero_ok` 0 or more (0 turning it off)."""
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} is not a finite number")
    if zero_ok and value < 0:
        raise SettingsError(f"{name}={raw!r} must be 0 (off) or more")
    if not zero_ok and value <= 0:
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


def _webhook_url(env: Mapping[str, str | None], name: str) -> str | None:
    url = _text(env, name)
    if url is not None and (urlsplit(url).scheme not in WEBHOOK_SCHEMES or not urlsplit(url).netloc):
        raise SettingsError(f"{name}={url!r} must be an https:// URL (Telegram posts only to "
                            "those) or an http:// one (accepted for local tests)")
    return url


def _secret(env: Mapping[str, str | None], name: str) -> str | None:
    secret = _text(env, name)
    if secret is not None and not WEBHOOK_SECRET_RE.fullmatch(secret):
        raise SettingsError(f"{name} must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
    return secret


def _health_token(env: Mapping[str, str | None], name: str) -> str | None:
    token = _text(env, name)
    if token is not None and not HEALTH_TOKEN_RE.fullmatch(token):
        raise SettingsError(f"{name} must be 16-256 characters from A-Z, a-z, 0-9, _ . ~ and -")
    return token


def _path(env: Mapping[str, str | None], name: str) -> str | None:
    path = _text(env, name)
    if path is not None and not path.startswith("/"):
        raise SettingsError(f"{name}={path!r} must start with /")
    return path


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
    # Webhook mode (when webhook_url is set), the health check, /reload and group rules.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    webhook_path: str | None = None  # default: the path of webhook_url (see webhook_route)
    health_port: int | None = None
    # Lets a request from elsewhere read the details on /healthz (Authorization: Bearer <token>);
    # without it only requests from this machine see more than {"status": ...}.
    health_token: str | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    group_cooldown: float = DEFAULT_GROUP_COOLDOWN
    # Not read from the environment: the bot stays within Telegram's limit; tests and the
    # benchmark lift it (0 = no limit) to measure the bot itself.
    send_rate: float = DEFAULT_SEND_RATE

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
            webhook_url=_webhook_url(env, "WEBHOOK_URL"),
            webhook_secret=_secret(env, "WEBHOOK_SECRET"),
            webhook_listen=_text(env, "WEBHOOK_LISTEN") or DEFAULT_WEBHOOK_LISTEN,
            webhook_port=_port(env, "WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT) or DEFAULT_WEBHOOK_PORT,
            webhook_path=_path(env, "WEBHOOK_PATH"),
            health_port=_port(env, "HEALTH_PORT", None),
            health_token=_health_token(env, "HEALTH_TOKEN"),
            admin_ids=_ids(env, "ADMIN_IDS"),
            group_cooldown=_number(env, "GROUP_COOLDOWN", DEFAULT_GROUP_COOLDOWN, zero_ok=True),
        )

    @property
    def webhook_route(self) -> str:
        """The path the webhook server takes updates on: WEBHOOK_PATH, else WEBHOOK_URL's path."""
        if self.webhook_path:
            return self.webhook_path
        return (urlsplit(self.webhook_url).path if self.webhook_url else "") or "/"

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """The values the log must never show: the bot token, the webhook secret, the health token."""
        return (self.telegram_bot_token, self.webhook_secret, self.health_token)

    @property
    def persistence_path(self) -> Path:
        """Where the Telegram layer keeps dialogue state and user data between restarts."""
        return self.data_dir / PERSISTENCE_FILE

    @property
    def legacy_persistence_path(self) -> Path:
        """The pickle state file of older versions, taken over (then renamed) on first start."""
        return self.data_dir / LEGACY_PERSISTENCE_FILE
