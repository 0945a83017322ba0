"""Operations: hot reload, the per-update log line and counters, state writes, and serve().

- Ops holds what operations need at run time: settings, the engine in service (a reload, by
  /reload or SIGHUP, swaps it in one assignment), health counters and analytics.
- OpsApplication times every update and logs one line for it (update id, type, chat type,
  outcome, latency including time queued), counts it for /healthz, writes the rows of the bot's
  state it changed, and only then crosses it off the update journal: a kill -9 loses no update
  Telegram was told had arrived (one being handled at the kill is handled again after the
  restart).
- serve() runs the Application as PTB's custom-webhook example does: `async with application`,
  start, and a small aiohttp server beside it (the webhook and /healthz) until asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application

from ..analytics import Analytics
from ..conversation import EngineRef
from ..engine import Reply, ReplyKind
from ..engine.cache import load_engine
from ..engine.knowledge import content_digest, knowledge_files
from ..settings import Settings
from . import texts
from .health import ERROR, Health
from .journal import UpdateJournal
from .memory import Context
from .persistence import StatePersistence
from .processor import PerChatUpdateProcessor
from .render import send_reply
from .tracing import NO_CHAT, UpdateTrace, current, describe
from .webserver import Webhook, WebServer

logger = logging.getLogger(__name__)
update_log = logging.getLogger("bot.updates")  # one line per update; filter or route it by name

# SIGTERM: updates being handled get this long to finish; those waiting are left in the journal.
# Docker and systemd kill after 10 s and 30 s; the rest of a shutdown takes well under a second.
SHUTDOWN_GRACE_S = 5.0
SHUTDOWN_POLL_S = 0.05
POLL_TIMEOUT_S = 10  # seconds each getUpdates long poll waits for news (PTB's default)
RELOAD_PROBLEMS_SHOWN = 10  # problem lines of a refused knowledge base shown in the admin's chat
STOP_SIGNALS = ("SIGTERM", "SIGINT")  # graceful shutdown; SIGHUP reloads the knowledge base
RELOAD_SIGNAL = "SIGHUP"


# ----- operations state -----


@dataclasses.dataclass(frozen=True)
class Reloaded:
    """The result of a reload: whether the new base is in service, versions, the problems."""

    ok: bool
    old: str
    new: str
    problems: str = ""


def _same_content(root: Path, digest: str) -> bool:
    """Whether the knowledge folder still holds exactly the files the engine was built from."""
    return content_digest(knowledge_files(root)) == digest


class Ops:
    """What operations need at run time: settings, the engine in service, health and analytics."""

    def __init__(self, settings: Settings, ref: EngineRef, analytics: Analytics | None = None,
                 journal: UpdateJournal | None = None) -> None:
        self.settings = settings
        self.journal = journal  # updates received and not yet handled, on disk
        self.ref = ref
        self.analytics = analytics
        self.health = Health(lambda: ref.engine, "webhook" if settings.webhook_url else "polling",
                             settings.health_token)
        if analytics is not None:  # analytics writes failing (e.g. disk full): /healthz "degraded"
            self.health.watch("analytics", lambda: analytics.failure)
        if journal is not None:
            self.health.watch("journal", lambda: journal.problem)
        self.root = ref.engine.kb.root  # reloads read the folder the bot was started with
        self.web: WebServer | None = None  # the HTTP server while serve() runs (webhook, /healthz)
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- one update -----

    def finish(self, trace: UpdateTrace) -> None:
        """Count an update, keep its latency and log its line."""
        now = time.perf_counter()
        arrived = trace.arrived if trace.arrived is not None else trace.started
        ms = (now - arrived) * 1000  # queued behind its chat's earlier updates, then handled
        queued_ms = (trace.started - arrived) * 1000
        kind, chat = describe(trace.update)
        self.health.counters.count_outcome(trace.outcome)
        if trace.outcome == ERROR:
            self.health.counters.errors += 1
        self.health.note_latency(ms)
        update_id = trace.update.update_id if isinstance(trace.update, Update) else NO_CHAT
        update_log.info("update_id=%s type=%s chat=%s outcome=%s latency_ms=%.1f queued_ms=%.1f%s",
                        update_id, kind, chat, trace.outcome, ms, queued_ms,
                        f" error={trace.error}" if trace.error else "")

    def polling_error(self, exc: TelegramError) -> None:
        """getUpdates failed (network, 5xx, 409…): counted and logged; polling retries by itself."""
        self.health.counters.errors += 1
        logger.warning("polling for updates failed: %s: %s (retrying)", type(exc).__name__, exc)

    # ----- reload -----

    async def reload(self) -> Reloaded:
        """Load and check the knowledge folder again; only a base that passes replaces the old one."""
        async with self._reload_lock:
            old = self.ref.engine
            try:
                same = await asyncio.to_thread(_same_content, self.root, old.kb.digest)
            except OSError:
                same = False
            if same:
                # Nothing changed: loading an identical engine would only make chats wait.
                self.health.note_reload(None)
                logger.info("knowledge base reloaded from %s: unchanged, still serving %s", self.root,
                            old.kb.version)
                return Reloaded(True, old.kb.version, old.kb.version)
            try:
                # Built in a worker process (or loaded from the cache): chats keep being answered.
                engine = await asyncio.to_thread(load_engine, self.root, old.matcher.policy,
                                                 worker=True)
            except Exception as exc:  # noqa: BLE001 - KnowledgeError, or anything else: refused
                problems = str(exc) or type(exc).__name__
                logger.error("knowledge base reload refused; still serving %s. %s",
                             old.kb.version, problems)
                self.health.note_reload(problems)
                return Reloaded(False, old.kb.version, old.kb.version, problems)
            self.ref.swap(engine)
            self.health.note_reload(None)
            logger.info("knowledge base reloaded from %s: %s (was %s)", self.root,
                        engine.kb.version, old.kb.version)
            return Reloaded(True, old.kb.version, engine.kb.version)

    def on_sighup(self) -> asyncio.Task[Reloaded]:
        """The SIGHUP handler: start a reload (its result is logged) and return its task."""
        logger.info("SIGHUP: reloading the knowledge base from %s", self.root)
        task = asyncio.get_running_loop().create_task(self.reload(), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def reload_command(self, update: Update, context: Context) -> None:
        """/reload: admins (ADMIN_IDS) reload the knowledge base; others get a polite refusal."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        if user.id not in self.settings.admin_ids:
            logger.warning("/reload refused: the user is not in ADMIN_IDS")
            await send_reply(context.bot, chat.id, Reply(texts.RELOAD_NOT_ALLOWED, kind=ReplyKind.MENU))
            return
        result = await self.reload()
        if result.ok:
            text = texts.RELOAD_DONE.format(new=result.new, old=result.old)
        else:
            text = texts.RELOAD_REFUSED.format(old=result.old, problems=shorten(result.problems))
        await send_reply(context.bot, chat.id, Reply(text, kind=ReplyKind.MENU))

    async def set_admin_menus(self, application: Application) -> None:  # type: ignore[type-arg]
        """Show /reload in the command menu of each admin's private chat (if they started the bot)."""
        commands = [BotCommand(c, d) for c, d in (*texts.PRIVATE_COMMANDS, texts.RELOAD_COMMAND)]
        for admin in sorted(self.settings.admin_ids):
            try:
                await application.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin))
            except TelegramError as exc:
                logger.info("no /reload menu for an admin (has the admin started the bot?): %s", exc)

    async def close(self, application: Application | None = None) -> None:  # type: ignore[type-arg]
        """post_shutdown: finish a running reload and write the analytics still queued."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if application is not None and isinstance(application.persistence, StatePersistence):
            await application.persistence.close()
        if self.journal is not None:
            await self.journal.close()
        if self.analytics is not None:
            await self.analytics.close()


def shorten(problems: str, limit: int = RELOAD_PROBLEMS_SHOWN) -> str:
    """The first `limit` lines of a problem listing, and how many more there are."""
    lines = [line for line in problems.splitlines() if line.strip()]
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join([*lines[:limit], texts.RELOAD_MORE_PROBLEMS.format(count=len(lines) - limit)])


# ----- the Application -----


class OpsApplication(Application):  # type: ignore[type-arg]
    """An Application that traces each update: a log line, counters, and its state written after."""

    def __init__(self, *, ops: Ops, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ops = ops

    async def process_update(self, update: object) -> None:
        """Handle one update, write the state it changed, then count and log it."""
        processor = self.update_processor
        trace = UpdateTrace(update, arrived=processor.arrival(update)
                            if isinstance(processor, PerChatUpdateProcessor) else None)
        token = current.set(trace)
        try:
            await super().process_update(update)
            # The rows it changed (one transaction for all updates finishing meanwhile), then off
            # the journal: a crash in between means handling it again, never losing it.
            await self.write_state()
            if self.ops.journal is not None and isinstance(update, Update):
                await self.ops.journal.done(update.update_id)
        except BaseException:
            trace.outcome = ERROR
            raise
        finally:
            current.reset(token)
            self.ops.finish(trace)

    async def process_error(
        self, update: object | None, error: Exception, job: Any = None, coroutine: Any = None
    ) -> bool:
        """Mark the update being handled as failed (other errors are counted), then the handlers."""
        trace = current.get()
        if trace is not None and update is trace.update:
            trace.outcome, trace.error = ERROR, type(error).__name__
        else:
            self.ops.health.counters.errors += 1
        return await super().process_error(update, error, job, coroutine)

    async def update_persistence(self) -> None:
        """PTB's update of the persistence (after updates, periodically, on stop), then the file.

        Errors are logged and counted, never raised: PTB's periodic task must not die of a full disk.
        """
        try:
            await super().update_persistence()
            if isinstance(self.persistence, StatePersistence):
                await self.persistence.flush_if_dirty()
        except Exception:
            self.ops.health.counters.errors += 1
            logger.exception("could not write the bot's state")

    async def write_state(self) -> None:
        """Write what the updates handled so far changed to disk now."""
        await self.update_persistence()


# ----- running -----


def web_server(application: OpsApplication) -> WebServer | None:
    """The small server beside the Application: the webhook (in webhook mode) and /healthz."""
    ops, settings = application.ops, application.ops.settings
    if settings.webhook_url:
        assert settings.webhook_secret, "webhook mode needs WEBHOOK_SECRET"
        return WebServer(ops.health, Webhook(application, settings.webhook_secret, ops.health,
                                             ops.journal), settings.webhook_route)
    return WebServer(ops.health) if settings.health_port else None


async def serve(
    application: OpsApplication, stop: asyncio.Event, poll_timeout: int = POLL_TIMEOUT_S
) -> None:
    """Run until `stop` is set (polling, or the webhook when WEBHOOK_URL is set), then shut down:
    report not ready, stop taking updates, finish the queued ones, write the state, close analytics.
    """
    ops, settings = application.ops, application.ops.settings
    webhook = bool(settings.webhook_url)
    server = ops.web = web_server(application)
    updater = application.updater
    assert updater is not None, "the Application needs its updater"
    registered = False
    ops.health.ready_check = lambda: application.running and (
        registered if webhook else updater.running)
    async with application:  # initialize(); shutdown() at the end, which writes the state
        try:
            await replay(application)
            if application.post_init is not None:
                await application.post_init(application)
            await ops.set_admin_menus(application)
            if server is not None:
                await server.start(settings.webhook_listen,
                                   settings.webhook_port if webhook else settings.health_port or 0)
            if webhook:
                await application.start()
                await application.bot.set_webhook(
                    settings.webhook_url or "", secret_token=settings.webhook_secret,
                    allowed_updates=Update.ALL_TYPES)
                registered = True
                logger.info("webhook registered; serving it on %s:%s%s", settings.webhook_listen,
                            server.port if server else "-", settings.webhook_route)
            else:
                await updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=poll_timeout,
                                            error_callback=ops.polling_error)
                await application.start()
                logger.info("long polling started (data in %s)", settings.data_dir)
            await stop.wait()
        finally:
            ops.health.stopping = True
            logger.info("shutting down: finishing the updates in flight")
            if server is not None:
                await server.stop()  # no new updates; the ones queued are still handled
            if updater.running:
                await updater.stop()
            if application.running:
                await leave_backlog(application)
                await application.stop()  # handles what is left in the queue, writes the state
                if application.post_stop is not None:
                    await application.post_stop(application)
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    logger.info("stopped")


async def replay(application: OpsApplication) -> int:
    """Queue the updates a crash or a shutdown left unhandled (in the journal), before new ones."""
    journal = application.ops.journal
    if journal is None:
        return 0
    pending = await asyncio.to_thread(journal.open)
    for item in pending:
        try:
            update = Update.de_json(item, application.bot)
        except Exception as exc:  # noqa: BLE001 - one broken entry must not stop the start
            logger.error("update journal: cannot replay update %s: %s", item.get("update_id"), exc)
            continue
        await application.update_queue.put(update)
    if pending:
        journal.replayed = len(pending)
        logger.info("handling %d update(s) received before the restart and not yet handled",
                    len(pending))
    return len(pending)


async def leave_backlog(application: OpsApplication, grace: float = SHUTDOWN_GRACE_S) -> None:
    """Stop within seconds whatever the backlog: updates still waiting for their chat's turn are
    left in the journal for the next start; those being handled get `grace` seconds to finish.
    Without a journal every queued update is handled first, as before (nothing would keep it)."""
    processor = application.update_processor
    journal = application.ops.journal
    if (not isinstance(processor, PerChatUpdateProcessor) or journal is None or not journal.on
            or journal.failures):  # some updates may be only in memory: handle them all
        return
    running, waiting = processor.in_flight
    left = processor.abandon()
    if left:
        logger.info("shutting down: %d update(s) left for the next start; finishing %d",
                    left, running)
    try:
        async with asyncio.timeout(grace):
            while processor.in_flight != (0, 0) or not application.update_queue.empty():
                if not application.update_queue.empty():  # fetched after the count: leave them too
                    processor.abandon()
                await asyncio.sleep(SHUTDOWN_POLL_S)
    except TimeoutError:
        cut = processor.abandon(started=True)
        logger.warning("shutting down: %d update(s) still being handled after %.0f s were "
                       "stopped; they are handled again after the restart", cut, grace)


def install_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event,
                    reload: Callable[[], object]) -> list[signal.Signals]:
    """SIGTERM/SIGINT set `stop`; SIGHUP calls `reload`. Returns the signals installed."""
    installed: list[signal.Signals] = []

    def stopper(sig: signal.Signals) -> None:
        if not stop.is_set():
            logger.info("%s: shutting down gracefully", sig.name)
        stop.set()

    for name in (*STOP_SIGNALS, RELOAD_SIGNAL):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            if name == RELOAD_SIGNAL:
                loop.add_signal_handler(sig, reload)
            else:
                loop.add_signal_handler(sig, stopper, sig)
        except (NotImplementedError, RuntimeError):  # not on this platform / not the main thread
            continue
        installed.append(sig)
    return installed


class EarlyReload:
    """SIGHUP while the bot is still starting (loading the knowledge base takes seconds): noted,
    and the reload done once the bot serves, instead of the signal's default (a silent exit that
    systemd counts as clean, so it does not restart the bot)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> EarlyReload:
        """Take SIGHUP over from now on (only the main thread may; elsewhere nothing is done)."""
        sig = getattr(signal, RELOAD_SIGNAL, None)
        if sig is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.requested = True  # nothing else in a signal handler; logged once the bot serves


def run_until_signalled(application: OpsApplication, early: EarlyReload | None = None) -> None:
    """Serve in a new event loop until SIGTERM or SIGINT; SIGHUP reloads the knowledge base
    (one that came during start-up, noted by `early`, is done now)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = install_signals(loop, stop, application.ops.on_sighup)
        if early is not None and early.requested:
            logger.info("SIGHUP came during start-up: reloading the knowledge base now")
            application.ops.on_sighup()
        try:
            await serve(application, stop)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    asyncio.run(main())
