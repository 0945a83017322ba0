"""The bot's own HTTP server (aiohttp): Telegram's webhook and GET /healthz on one port.

The port may face the internet, so it defends itself: a client gets IDLE_TIMEOUT_S to send a
request's head and BODY_TIMEOUT_S for its body; at most `max_connections` are open at once (when
full, a new connection closes the oldest one that is not in a request handler, idle or stalled in
its head; with every one busy the newcomer is answered 503 and closed, never left to exhaust file
descriptors); and a flood of refused requests is logged once per LOG_INTERVAL_S, not once a request.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import resource
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from telegram import Update

from .health import HEALTH_PATH, Health
from .journal import UpdateJournal
from .memory import AnyApplication

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # Telegram sends WEBHOOK_SECRET in it
MAX_BODY_BYTES = 1 << 20  # a request larger than this is refused (413); updates are far smaller
SHUTDOWN_TIMEOUT_S = 5.0  # requests still open when the server stops get this long to finish
HTTP_OK, HTTP_BAD_REQUEST, HTTP_FORBIDDEN, HTTP_UNAVAILABLE = 200, 400, 403, 503
HTTP_REQUEST_TIMEOUT = 408
# A connection that has not sent a whole request head this long after it opened (or after the
# last response) is closed: aiohttp's keep-alive timer, which also closes idle keep-alive
# connections (Telegram opens new ones as it needs them).
IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0  # a request body must have arrived this long after its head
# After answering a request whose body was not read (403, 404, 408, 413), aiohttp reads and drops
# what still comes for this long before closing (10 s by default): a stalled client holds the
# connection no longer than this.
LINGER_S = 1.0
MAX_CONNECTIONS = 512  # open at once; fewer when the file descriptor limit is low (see below)
FD_SHARE = 0.5  # connections may use at most this share of the soft RLIMIT_NOFILE
MIN_CONNECTIONS = 16
LOG_INTERVAL_S = 60.0  # refused requests and connections are logged at most once per this
BACKLOG = 128  # pending connections the kernel keeps before accept()
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
           b"Retry-After: 1\r\n\r\n")


def connection_limit(wanted: int = MAX_CONNECTIONS) -> int:
    """`wanted`, lowered to FD_SHARE of the process's soft file descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(MIN_CONNECTIONS, min(wanted, int(soft * FD_SHARE)))


class LogThrottle:
    """Lets one line through per `interval` seconds and counts the ones held back in between."""

    def __init__(self, interval: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.held_back = 0

    def allow(self) -> int | None:
        """None to stay quiet; else how many were held back since the last line (log it now)."""
        now = self._clock()
        if now < self._next:
            self.held_back += 1
            return None
        self._next = now + self.interval
        held, self.held_back = self.held_back, 0
        return held


class _Refusal(asyncio.Protocol):
    """A connection over the limit: answered 503 (Telegram retries) and closed straight away."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer and close; nothing the client sends is read."""
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSAL)
        transport.close()


class Webhook:
    """POST <path>: checks the secret token, then queues the update for the Application."""

    def __init__(self, application: AnyApplication, secret: str, health: Health,
                 journal: UpdateJournal | None = None) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self.application = application
        self.journal = journal  # an update is on disk there before Telegram gets its 200
        self._secret = secret.encode()
        self.health = health
        self._refused_log = LogThrottle()
        self._malformed_log = LogThrottle()

    async def handle(self, request: web.Request) -> web.Response:
        """One update from Telegram: 403 without the right secret, 400 if the body is not JSON.

        An update python-telegram-bot cannot parse is answered 200 and dropped (logged and
        counted): Telegram would otherwise send it again and again.
        """
        # aiohttp keeps a header that is not UTF-8 as surrogate escapes: compare its bytes.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._secret):
            self.health.counters.rejected += 1
            held = self._refused_log.allow()
            if held is not None:
                logger.warning("webhook: refused a request from %s without the right secret token "
                               "(%d more refused since the last such line; total %d)",
                               request.remote, held, self.health.counters.rejected)
            return web.Response(status=HTTP_FORBIDDEN)
        if not self.application.running:  # stopping: Telegram delivers it again later
            return web.Response(status=HTTP_UNAVAILABLE)
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                body = await request.read()
        except TimeoutError:
            self.health.counters.slow_requests += 1
            return web.Response(status=HTTP_REQUEST_TIMEOUT, headers={"Connection": "close"})
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested too deep
            self.health.counters.malformed += 1
            held = self._malformed_log.allow()
            if held is not None:
                logger.warning("webhook: refused a request whose body is not a JSON object: %s "
                               "(%d more since the last such line)", type(exc).__name__, held)
            return web.Response(status=HTTP_BAD_REQUEST)
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it is not processed
            self.health.counters.malformed += 1
            logger.error("webhook: update %s cannot be parsed (%s: %s); skipping it",
                         data.get("update_id"), type(exc).__name__, exc)
            return web.Response(status=HTTP_OK)
        if self.journal is not None and not (await self.journal.add([data]))[0]:
            logger.info("webhook: update %s was received before; not handled again",
                        update.update_id)
            return web.Response(status=HTTP_OK)
        await self.application.update_queue.put(update)
        return web.Response(status=HTTP_OK)


class WebServer:
    """An aiohttp server with /healthz and, in webhook mode, the webhook path."""

    def __init__(self, health: Health, webhook: Webhook | None = None, path: str = "/telegram",
                 max_connections: int | None = None, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_get(HEALTH_PATH, health.handle)
        if webhook is not None:
            self.app.router.add_post(path, webhook.handle)
        self.health = health
        self.max_connections = connection_limit(max_connections or MAX_CONNECTIONS)
        self.idle_timeout = idle_timeout
        self._busy: set[object] = set()  # connections inside a request handler right now
        self._evicted: set[object] = set()  # connections closed to make room, not yet gone
        self.app.middlewares.append(self._track_busy)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._refused_log = LogThrottle()
        self._evicted_log = LogThrottle()
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0: any free port, then read .port)."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                               keepalive_timeout=self.idle_timeout, lingering_time=LINGER_S)
        await runner.setup()
        server = runner.server
        assert server is not None, "AppRunner.setup() makes the server"

        def protocol() -> asyncio.BaseProtocol:
            connections = server.connections
            self._evicted.intersection_update(connections)
            if len(connections) - len(self._evicted) < self.max_connections:
                return server()
            oldest_idle = next((c for c in connections
                                if c not in self._busy and c not in self._evicted), None)
            if oldest_idle is not None:
                self._evicted.add(oldest_idle)
                oldest_idle.force_close()
                self.health.counters.connections_evicted += 1
                held = self._evicted_log.allow()
                if held is not None:
                    logger.warning("HTTP server: %d connections open, the most allowed; closed the "
                                   "oldest idle or stalled one to make room (%d more since the last "
                                   "such line)", self.max_connections, held)
                return server()
            self.health.counters.connections_refused += 1
            held = self._refused_log.allow()
            if held is not None:
                logger.warning("HTTP server: %d connections open and busy, the most allowed; "
                               "refusing more (%d more refused since the last such line)",
                               self.max_connections, held)
            return _Refusal()

        try:
            # aiohttp's low-level server is the protocol factory; wrapping it caps connections.
            self._listener = await asyncio.get_running_loop().create_server(
                protocol, host, port, backlog=BACKLOG)
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(self._listener.sockets[0].getsockname()[1])
        logger.info("HTTP server listening on %s:%s (at most %d connections)", host, self.port,
                    self.max_connections)

    @web.middleware
    async def _track_busy(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Mark the connection busy while a handler runs: it is never closed to make room."""
        connection = request.protocol
        self._busy.add(connection)
        try:
            return await handler(request)
        finally:
            self._busy.discard(connection)

    @property
    def open_connections(self) -> int:
        """Connections open now (for tests and measurements)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def stop(self) -> None:
        """Stop listening and let open requests finish (up to SHUTDOWN_TIMEOUT_S)."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
