"""The bot's own HTTP server (aiohttp): Telegram's webhook and GET /healthz on one port."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update

from .health import HEALTH_PATH, Health
from .memory import AnyApplication

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # Telegram sends WEBHOOK_SECRET in it
MAX_BODY_BYTES = 1 << 20  # a request larger than this is refused (413); updates are far smaller
SHUTDOWN_TIMEOUT_S = 5.0  # requests still open when the server stops get this long to finish
HTTP_OK, HTTP_BAD_REQUEST, HTTP_FORBIDDEN, HTTP_UNAVAILABLE = 200, 400, 403, 503


class Webhook:
    """POST <path>: checks the secret token, then queues the update for the Application."""

    def __init__(self, application: AnyApplication, secret: str, health: Health) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self.application = application
        self._secret = secret.encode()
        self.health = health

    async def handle(self, request: web.Request) -> web.Response:
        """One update from Telegram: 403 without the right secret, 400 if the body is not JSON.

        An update python-telegram-bot cannot parse is answered 200 and dropped (logged and
        counted): Telegram would otherwise send it again and again.
        """
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.health.counters.rejected += 1
            logger.warning("webhook: refused a request from %s without the right secret token",
                           request.remote)
            return web.Response(status=HTTP_FORBIDDEN)
        if not self.application.running:  # stopping: Telegram delivers it again later
            return web.Response(status=HTTP_UNAVAILABLE)
        try:
            data = json.loads(await request.read())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self.health.counters.malformed += 1
            logger.warning("webhook: refused a request whose body is not a JSON object: %s", exc)
            return web.Response(status=HTTP_BAD_REQUEST)
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it is not processed
            self.health.counters.malformed += 1
            logger.error("webhook: update %s cannot be parsed (%s: %s); skipping it",
                         data.get("update_id"), type(exc).__name__, exc)
            return web.Response(status=HTTP_OK)
        await self.application.update_queue.put(update)
        return web.Response(status=HTTP_OK)


class WebServer:
    """An aiohttp server with /healthz and, in webhook mode, the webhook path."""

    def __init__(self, health: Health, webhook: Webhook | None = None, path: str = "/telegram") -> None:
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_get(HEALTH_PATH, health.handle)
        if webhook is not None:
            self.app.router.add_post(path, webhook.handle)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0: any free port, then read .port)."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("HTTP server listening on %s:%s", host, self.port)

    async def stop(self) -> None:
        """Stop listening and let open requests finish (up to SHUTDOWN_TIMEOUT_S)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
