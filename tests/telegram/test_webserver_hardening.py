"""The webhook port under hostile clients, with real sockets on 127.0.0.1 (bounded in count and time).

Stalled connections, a flood of wrong secrets, non-ASCII headers, JSON nested too deep, and
/healthz details kept to this machine or a token holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from bot import analytics as analytics_module
from bot.analytics import Analytics
from bot.engine import Engine
from bot.settings import Settings, SettingsError
from bot.telegram import webserver
from bot.telegram.health import DEGRADED, OK, Health
from bot.telegram.webserver import SECRET_HEADER, LogThrottle, Webhook, WebServer
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, Person, wait_until
from .ops_helpers import free_port, serving

SECRET = "s3cret-Token_for-tests"
HEALTH_TOKEN = "health-token-0123456789abcdef"
UPDATE = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi",
                                      "chat": {"id": 1, "type": "private"}}}
QUESTION = "社保卡能坐地铁吗"
STALLED = 200  # stalled connections opened by the tests: enough to show the cap, bounded
TIMEOUT = aiohttp.ClientTimeout(total=STEP_TIMEOUT)


@asynccontextmanager
async def server(engine: Engine, **kwargs: Any) -> AsyncIterator[tuple[WebServer, Health, Any]]:
    """A WebServer on 127.0.0.1 with /healthz and the webhook feeding a stand-in Application."""
    health = Health(lambda: engine, "webhook", token=HEALTH_TOKEN)
    health.ready_check = lambda: True
    application = SimpleNamespace(running=True, update_queue=asyncio.Queue(), bot=None)
    web_server = WebServer(health, Webhook(application, SECRET, health),  # type: ignore[arg-type]
                           "/telegram", **kwargs)
    await web_server.start("127.0.0.1", 0)
    try:
        yield web_server, health, application
    finally:
        await web_server.stop()


async def http(port: int, method: str, path: str, *, headers: dict[str, str] | None = None,
               data: bytes | None = None) -> tuple[int, bytes]:
    """One request with aiohttp's client: the status and the body."""
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session, \
            session.request(method, f"http://127.0.0.1:{port}{path}", headers=headers,
                            data=data) as response:
        return response.status, await response.read()


async def raw(port: int, request: bytes, whole: bool = True) -> bytes:
    """Send raw bytes; read until the server closes the connection (or only the status line)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(STEP_TIMEOUT):
            return await (reader.read() if whole else reader.readline())
    finally:
        writer.close()


async def stall(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """Open `count` connections that send part of a request head, then nothing."""
    stalled = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")
        stalled.append((reader, writer))
    for _, writer in stalled:
        await writer.drain()
    return stalled


def close_all(stalled: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    """Close the client side of the stalled connections."""
    for _, writer in stalled:
        writer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed this connection (EOF or a reset), waiting up to STEP_TIMEOUT."""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(STEP_TIMEOUT):
            await reader.read()
    return True


async def test_stalled_connections_do_not_take_the_port_down(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """200 connections stalled in their request head, with room for 50: /healthz still answers
    and an update still gets through; the server never holds more than its limit; one log line."""
    caplog.set_level(logging.WARNING, logger="bot.telegram.webserver")
    async with server(engine, max_connections=50, idle_timeout=60.0) as (web_server, health, app):
        assert web_server.port is not None
        stalled = await stall(web_server.port, STALLED)
        try:
            await wait_until(lambda: health.counters.connections_evicted >= STALLED - 50,
                             "the oldest stalled connections to be closed for room")
            assert web_server.open_connections <= 50
            status, body = await http(web_server.port, "GET", "/healthz")
            assert status == 200 and json.loads(body)["status"] == OK
            status, _ = await http(web_server.port, "POST", "/telegram",
                                   headers={SECRET_HEADER: SECRET}, data=json.dumps(UPDATE).encode())
            assert status == 200 and app.update_queue.qsize() == 1
            assert health.counters.connections_refused == 0
        finally:
            close_all(stalled)
    assert len([r for r in caplog.records if "to make room" in r.getMessage()]) == 1


async def test_stalled_connections_are_timed_out(engine: Engine) -> None:
    """A connection that sends part of its head and then nothing is closed after the idle timeout."""
    async with server(engine, idle_timeout=0.5) as (web_server, _, _):
        assert web_server.port is not None
        stalled = await stall(web_server.port, 20)
        try:
            for reader, _ in stalled:
                assert await closed_by_server(reader)
            await wait_until(lambda: web_server.open_connections == 0, "every connection to close")
        finally:
            close_all(stalled)


async def test_a_stalled_body_is_answered_408(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers sent, then only part of the body: 408 after BODY_TIMEOUT_S, and counted."""
    monkeypatch.setattr(webserver, "BODY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(webserver, "LINGER_S", 0.05)  # the stop need not wait 1 s for the body
    async with server(engine) as (web_server, health, _):
        assert web_server.port is not None
        head = (f"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\n{SECRET_HEADER}: {SECRET}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"update_id\"")
        response = await raw(web_server.port, head.encode(), whole=False)
        assert response.startswith(b"HTTP/1.1 408")
        assert health.counters.slow_requests == 1


async def test_busy_connections_are_not_closed_for_room_but_newcomers_refused(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every connection inside a handler (bodies stalled), a new one gets 503 and is closed."""
    monkeypatch.setattr(webserver, "BODY_TIMEOUT_S", 30.0)
    async with server(engine, max_connections=16) as (web_server, health, _):
        assert web_server.port is not None
        head = (f"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\n{SECRET_HEADER}: {SECRET}\r\n"
                "Content-Length: 100\r\n\r\n{").encode()
        busy = []
        for _ in range(16):
            reader, writer = await asyncio.open_connection("127.0.0.1", web_server.port)
            writer.write(head)
            busy.append((reader, writer))
        try:
            await wait_until(lambda: len(web_server._busy) == 16, "16 handlers waiting for bodies")
            response = await raw(web_server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response.startswith(b"HTTP/1.1 503") and b"Retry-After" in response
            assert health.counters.connections_refused == 1
            assert health.counters.connections_evicted == 0
        finally:
            close_all(busy)


async def test_a_flood_of_wrong_secrets_is_logged_once(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """300 requests with a wrong secret: all 403 and counted, one log line (not 300)."""
    caplog.set_level(logging.WARNING, logger="bot.telegram.webserver")
    async with server(engine) as (web_server, health, _):
        url = f"http://127.0.0.1:{web_server.port}/telegram"
        async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
            for _ in range(300):
                async with session.post(url, data=b"{}", headers={SECRET_HEADER: "wrong"}) as r:
                    assert r.status == 403
    lines = [r for r in caplog.records if "without the right secret token" in r.getMessage()]
    assert len(lines) == 1 and health.counters.rejected == 300


def test_log_throttle_counts_what_it_held_back() -> None:
    """One line per interval, reporting how many were held back in between."""
    now = [0.0]
    throttle = LogThrottle(60.0, clock=lambda: now[0])
    assert throttle.allow() == 0
    assert [throttle.allow() for _ in range(5)] == [None] * 5
    now[0] = 61.0
    assert throttle.allow() == 5 and throttle.allow() is None


async def test_a_non_ascii_secret_header_is_refused_403(engine: Engine) -> None:
    """A secret header with non-ASCII (even invalid UTF-8) bytes is a wrong secret, not a crash."""
    async with server(engine) as (web_server, health, _):
        assert web_server.port is not None
        for secret in ("秘密".encode(), b"\xff\xfe", SECRET.encode() + b"\xe4"):
            request = (b"POST /telegram HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       + SECRET_HEADER.encode() + b": " + secret + b"\r\nContent-Length: 2\r\n\r\n{}")
            response = await raw(web_server.port, request)
            assert response.startswith(b"HTTP/1.1 403"), response[:40]
        assert health.counters.rejected == 3


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
async def test_json_nested_too_deep_is_refused_400(engine: Engine, body: bytes) -> None:
    """JSON nested 100,000 deep is a malformed request (400), not a server error."""
    async with server(engine) as (web_server, health, app):
        assert web_server.port is not None
        status, _ = await http(web_server.port, "POST", "/telegram",
                               headers={SECRET_HEADER: SECRET}, data=body)
        assert status == 400 and health.counters.malformed == 1 and app.update_queue.empty()


async def test_healthz_details_only_here_or_with_the_token(engine: Engine) -> None:
    """A request through a proxy reads {"status": ...} only; with the token, the whole report."""
    async with server(engine) as (web_server, _, _):
        assert web_server.port is not None
        port = web_server.port
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        _, local = await http(port, "GET", "/healthz")
        assert json.loads(local)["knowledge"]["digest"] == engine.kb.digest
        status, public = await http(port, "GET", "/healthz", headers=forwarded)
        assert status == 200 and json.loads(public) == {"status": OK}
        for wrong in ("Bearer nope", f"Basic {HEALTH_TOKEN}", HEALTH_TOKEN):
            _, body = await http(port, "GET", "/healthz", headers={**forwarded, "Authorization": wrong})
            assert json.loads(body) == {"status": OK}
        _, token = await http(port, "GET", "/healthz",
                              headers={**forwarded, "Authorization": f"bearer {HEALTH_TOKEN}"})
        report = json.loads(token)
        assert report["counters"]["updates"] == 0 and report["knowledge"]["digest"] == engine.kb.digest
        response = await raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                   b"X-Real-IP: 203.0.113.7\r\nAuthorization: Bearer \xe7\xa7\x98\xff\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b'{"status": "ok"}')


def test_health_without_a_token_never_accepts_one(engine: Engine) -> None:
    """No HEALTH_TOKEN configured: an empty bearer token is not the token."""
    from aiohttp.test_utils import make_mocked_request

    from bot.telegram.health import has_token

    request = make_mocked_request("GET", "/healthz", headers={"Authorization": "Bearer "})
    assert not has_token(request, None) and not has_token(request, "")


async def test_failing_analytics_writes_make_healthz_degraded(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Analytics writes failing with "database or disk is full": /healthz says degraded (HTTP 200,
    answers go on) and names the problem; a later successful write clears it."""
    store = Analytics.open(tmp_path)
    connect = analytics_module._connect
    full = [True]

    def connect_to_a_full_disk(path: Path) -> sqlite3.Connection:
        conn = connect(path)
        if full[0]:  # no page may be added: SQLite fails the write as on a full disk
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(analytics_module, "_connect", connect_to_a_full_disk)
    monkeypatch.setattr(analytics_module, "WRITE_RETRY_DELAY_S", 0.01)
    health = Health(lambda: engine, "polling")
    health.ready_check = lambda: True
    health.watch("analytics", lambda: store.failure)
    try:
        assert health.status() == OK
        for i in range(50):
            await store.record("unanswered", question=f"问题 {i} " + "长" * 400)
        await store.flush()
        report = health.report(local=True)
        assert report["status"] == DEGRADED and report["ready"] is True
        assert "full" in report["problems"]["analytics"] and store.dropped == 50
        full[0] = False  # the disk has room again: the writer's next connection can write
        await asyncio.get_running_loop().run_in_executor(store._executor, store._close_conn)
        await store.record("unanswered", question="又一个问题")
        await store.flush()
        assert health.status() == OK and health.report(local=True)["problems"] == {}
    finally:
        await store.close()


def test_note_problem_degrades_until_cleared(engine: Engine) -> None:
    """A problem noted by another part (a damaged file set aside) shows until cleared, without paths."""
    health = Health(lambda: engine)
    health.ready_check = lambda: True
    health.note_problem("state", "/srv/shebao/data/telegram-state.pickle was damaged; set aside")
    report = health.report(local=True)
    assert report["status"] == DEGRADED
    assert report["problems"] == {"state": "telegram-state.pickle was damaged; set aside"}
    health.note_problem("state", None)
    assert health.status() == OK


# ----- through the bot as `python -m bot run` serves it -----


async def test_the_running_bot_survives_stalled_connections_and_keeps_healthz_private(
        api: FakeBotApi, settings: Settings, engine: Engine, person: Person,
        tmp_path: Path) -> None:
    """Webhook mode, as deployed (ops.serve): 200 stalled connections against a cap of 50 and a
    person still gets an answer; /healthz is bare to a forwarded request, whole with the token;
    failing analytics writes show as degraded."""
    webhook = dataclasses.replace(settings, webhook_url="https://bot.example.org/telegram",
                                  webhook_secret=SECRET, webhook_listen="127.0.0.1",
                                  webhook_port=free_port(), health_token=HEALTH_TOKEN)
    store = Analytics.open(tmp_path / "analytics")
    async with serving(webhook, engine, analytics=store) as app:
        assert app.ops.web is not None and app.ops.web.port is not None
        port = app.ops.web.port
        app.ops.web.max_connections = 50
        stalled = await stall(port, STALLED)
        try:
            await api.send_text(person.chat, person.user, QUESTION)
            status, _ = await http(port, "POST", "/telegram", headers={SECRET_HEADER: SECRET},
                                   data=json.dumps(api.injected_updates[-1]).encode())
            assert status == 200
            await wait_until(lambda: person.sent(), "the answer", api)
            assert person.sent()[0]["text"] == engine.answer(QUESTION).text
        finally:
            close_all(stalled)
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        _, public = await http(port, "GET", "/healthz", headers=forwarded)
        assert json.loads(public) == {"status": OK}
        store.failure = "writes failing: OperationalError: database or disk is full"
        _, whole = await http(port, "GET", "/healthz",
                              headers={**forwarded, "Authorization": f"Bearer {HEALTH_TOKEN}"})
        report = json.loads(whole)
        assert report["status"] == DEGRADED and "disk is full" in report["problems"]["analytics"]
        assert report["counters"]["connections_evicted"] >= STALLED - 50


def test_health_token_setting() -> None:
    """HEALTH_TOKEN is read, checked (16+ safe characters) and counted among the log's secrets."""
    base = {"TELEGRAM_BOT_TOKEN": "1:abc"}
    settings = Settings.from_env({**base, "HEALTH_TOKEN": HEALTH_TOKEN}, env_file=None)
    assert settings.health_token == HEALTH_TOKEN and HEALTH_TOKEN in settings.secrets
    assert Settings.from_env(base, env_file=None).health_token is None
    for bad in ("short", "has space in the token", "秘密" * 10):
        with pytest.raises(SettingsError, match="HEALTH_TOKEN"):
            Settings.from_env({**base, "HEALTH_TOKEN": bad}, env_file=None)
