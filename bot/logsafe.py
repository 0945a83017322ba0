"""Make every log record safe before a handler writes it: no bot token, no secret, no sensitive number.

httpx and python-telegram-bot put the Bot API URL (…/bot<token>/getMe) in log lines and in
exception messages, at DEBUG and when Telegram rejects the token; a question may hold an ID,
card or phone number. A `SafeLogFilter` on every handler of the root logger rewrites each record
once: the message (its %-arguments merged in), the traceback and the stack are cleaned, and an
overlong message is cut.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from .engine.sensitive import RedactingFilter, redact

# A Bot API token: the bot's numeric id, a colon and 35 characters (30 or more accepted here).
# The id is kept (it is public: the bot's user id); the secret part is masked.
TOKEN_RE = re.compile(r"(?<![0-9])(\d{6,12}):[A-Za-z0-9_-]{30,}")
TOKEN_MASK = r"\1:[token hidden]"
SECRET_MASK = "[secret hidden]"
MIN_SECRET_CHARS = 8  # shorter configured secrets are not masked by value (too many false hits)
MAX_MESSAGE_CHARS = 16_000  # a longer message is cut, and says how much was left out
CUT_NOTE_CHARS = 64  # room for that note


def mask_tokens(text: str) -> str:
    """`text` with anything shaped like a bot token masked (the bot id stays)."""
    return TOKEN_RE.sub(TOKEN_MASK, text)


class SafeLogFilter(RedactingFilter):
    """Masks bot tokens and the configured secrets, redacts sensitive numbers, bounds the length."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        """Also mask these exact values (the bot token, the webhook secret, the health token)."""
        self.secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)

    def clean(self, text: str) -> str:
        """`text` without tokens, secrets or sensitive numbers."""
        text = mask_tokens(text)  # first: a token is masked as a token whatever else is set
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, traceback and stack in their cleaned form; keep the record.

        A record another handler's filter cleaned is cleaned again: that filter may not know the
        same secrets (cleaning is idempotent).
        """
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: logging reports it itself
            return True
        if len(message) > MAX_MESSAGE_CHARS + CUT_NOTE_CHARS:  # not cut again by another filter
            left_out = len(message) - MAX_MESSAGE_CHARS
            message = f"{message[:MAX_MESSAGE_CHARS]}… [{left_out} more characters left out]"
        record.msg, record.args = self.clean(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


def install(secrets: Iterable[str | None] = (), logger: logging.Logger | None = None) -> SafeLogFilter:
    """Put one SafeLogFilter on every handler of `logger` (the root logger by default).

    Called again, it adds the new secrets to the filter already there.
    """
    target = logger or logging.getLogger()
    secrets = list(secrets)
    shared: SafeLogFilter | None = None
    for handler in target.handlers:
        for existing in handler.filters:
            if isinstance(existing, SafeLogFilter):
                shared = existing
    if shared is None:
        shared = SafeLogFilter(secrets)
    else:
        shared.add_secrets(secrets)
    for handler in target.handlers:
        if shared not in handler.filters:
            handler.addFilter(shared)
    return shared
