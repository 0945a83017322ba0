"""bot.logsafe: no bot token, secret or sensitive number reaches a log handler; error lines are short."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from telegram import Bot, Update
from telegram.error import InvalidToken
from telegram.request import HTTPXRequest

from bot.logsafe import MAX_MESSAGE_CHARS, SafeLogFilter, install, mask_tokens
from bot.telegram.errors import describe
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

TOKEN_SECRET = DEFAULT_TOKEN.split(":", 1)[1]  # the part of the token that must never be logged
REAL_SHAPED = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # 35 characters after the colon
WEBHOOK_SECRET = "webhook-secret-0123456789"
ID_NUMBER, PHONE = "110101199003074514", "13800138000"


@contextmanager
def captured(level: int = logging.DEBUG, secrets: tuple[str, ...] = ()) -> Iterator[io.StringIO]:
    """Everything logged (root and below, at `level`) as the formatted text a handler writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SafeLogFilter(secrets))
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "telegram")}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


def test_token_shaped_strings_are_masked_in_messages_args_and_tracebacks() -> None:
    """The token pattern is masked wherever it is: message, %-arguments, exception text."""
    log = logging.getLogger("test.logsafe")
    with captured() as out:
        log.debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{REAL_SHAPED}")
        log.info(f"HTTP Request: POST https://api.telegram.org/bot{REAL_SHAPED}/getMe \"401\"")
        try:
            raise InvalidToken(f"The token `{REAL_SHAPED}` was rejected by the server.")
        except InvalidToken:
            log.exception("could not start")
        log.warning("stack", stack_info=True, extra={"note": REAL_SHAPED})
    text = out.getvalue()
    assert REAL_SHAPED.split(":")[1] not in text
    assert text.count("7012345678:[token hidden]") == 3  # the bot id stays: it is public
    assert "InvalidToken" in text  # the traceback is kept, cleaned


def test_configured_secrets_and_sensitive_numbers_are_hidden() -> None:
    """The webhook secret (by value) and ID/phone numbers in a line are hidden."""
    log = logging.getLogger("test.logsafe")
    with captured(secrets=(WEBHOOK_SECRET, "short")) as out:
        log.debug("setWebhook with %r", {"secret_token": WEBHOOK_SECRET, "url": "https://x/y"})
        log.error("question %s from %s", f"身份证{ID_NUMBER}", f"手机 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}")
        log.info("a short secret is not masked by value: short")
    text = out.getvalue()
    assert WEBHOOK_SECRET not in text and "[secret hidden]" in text
    assert ID_NUMBER not in text and PHONE[3:7] + " " + PHONE[7:] not in text
    assert "[身份证号已隐藏]" in text and "[手机号已隐藏]" in text
    assert "short" in text


def test_each_handlers_filter_applies_its_own_secrets() -> None:
    """A record cleaned by one handler's filter (other secrets) is cleaned again by the next one,
    and an overlong message is not cut twice."""
    logger = logging.getLogger("test.logsafe.two")
    logger.propagate = False
    first_out, second_out = io.StringIO(), io.StringIO()
    first, second = logging.StreamHandler(first_out), logging.StreamHandler(second_out)
    first.addFilter(SafeLogFilter(["another-secret-value"]))
    second.addFilter(SafeLogFilter([WEBHOOK_SECRET]))
    logger.addHandler(first)
    logger.addHandler(second)
    try:
        logger.warning("secret %s and token %s", WEBHOOK_SECRET, REAL_SHAPED)
        logger.warning("%s", "x" * (MAX_MESSAGE_CHARS + 500))
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)
    second_text = second_out.getvalue()
    assert WEBHOOK_SECRET not in second_text and "7012345678:[token hidden]" in second_text
    assert second_text.count("more characters left out") == 1


def test_an_overlong_message_is_cut() -> None:
    """A message longer than MAX_MESSAGE_CHARS is cut, saying how much was left out."""
    log = logging.getLogger("test.logsafe")
    with captured() as out:
        log.warning("%s", "问" * (MAX_MESSAGE_CHARS + 500))
    line = out.getvalue()
    assert "[500 more characters left out]" in line and line.count("问") == MAX_MESSAGE_CHARS


def test_install_puts_one_filter_on_each_handler_and_adds_secrets() -> None:
    """install() is idempotent per handler and accumulates secrets."""
    logger = logging.getLogger("test.logsafe.install")
    logger.propagate = False
    first, second = logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())
    logger.addHandler(first)
    try:
        one = install(["first-secret-value"], logger)
        logger.addHandler(second)
        two = install(["second-secret-value", None], logger)
        assert one is two
        assert [f for f in first.filters if isinstance(f, SafeLogFilter)] == [one]
        assert [f for f in second.filters if isinstance(f, SafeLogFilter)] == [one]
        assert one.secrets == {"first-secret-value", "second-secret-value"}
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)


def test_mask_tokens_leaves_ordinary_text() -> None:
    """Times, ids and ratios are not tokens."""
    for text in ("12:30", "update_id=123456789", "chat=-1001234567890", "ratio 3:2"):
        assert mask_tokens(text) == text


async def test_python_telegram_bot_and_httpx_never_log_the_token(api: FakeBotApi) -> None:
    """At DEBUG, PTB logs the Bot API URL and httpx each request; a rejected token is logged in
    the exception. With the filter none of them shows the token's secret part."""
    api.fail_next("getMe", error_code=401, times=3)
    with captured() as out:
        bot = Bot(DEFAULT_TOKEN, base_url=api.base_url, request=HTTPXRequest(),
                  get_updates_request=HTTPXRequest())
        with pytest.raises(InvalidToken) as rejected:
            await bot.initialize()
        logging.getLogger("bot.telegram.app").critical("could not start: %s", rejected.value)
        await bot.shutdown()
    text = out.getvalue()
    assert "Set Bot API URL" in text and "getMe" in text and "could not start" in text
    assert TOKEN_SECRET not in text
    assert "[token hidden]" in text


def test_error_lines_describe_an_update_without_names_or_text() -> None:
    """The error handler's line names the update, its type and chat, not who wrote what."""
    update = Update.de_json({
        "update_id": 42,
        "message": {"message_id": 7, "date": 0, "text": f"我叫王小明 {ID_NUMBER}",
                    "chat": {"id": -100123, "type": "supergroup", "title": "王家群"},
                    "from": {"id": 5, "is_bot": False, "first_name": "小明", "last_name": "王",
                             "username": "xiaoming"}},
    }, None)
    line = describe(update)
    assert line == "update_id=42 type=message chat=supergroup:-100123 text_chars=24"
    for private in ("王", "小明", "xiaoming", ID_NUMBER):
        assert private not in line
    assert describe("x" * 1000) == repr("x" * 1000)[:200]
