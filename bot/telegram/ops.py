"""Operations: hot reload, per-update logging and counters, state writes, and the run loop.

- EngineRef holds the engine in service; handlers read `.engine` / `.dialogues` on each update,
  so a reload (/reload, SIGHUP) swaps the whole knowledge base in one assignment.
- PerChatUpdateProcessor handles the updates of different chats concurrently (up to
  MAX_CONCURRENT_UPDATES at once) and each chat's updates one at a time, in the order they came:
  a burst in one group, or a send held back by the per-group rate limit, does not stall the others.
- OpsApplication times every update and logs one line for it (update id, type, chat type,
  outcome, latency), counts it for /healthz, and writes the bot's state right after it, so that a
  kill -9 loses at most the updates in flight (in a burst: the updates not yet written, at most
  WRITE_DEFER_MAX, besides those still queued or in flight).
- serve() runs the bot in polling or webhook mode until asked to stop, then shuts down
  gracefully: no new updates, the queued ones finished, state and analytics flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes, PicklePersistence
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from ..analytics import Analytics
from ..engine import Dialogues, Engine, Reply
from ..engine.cache import load_engine
from ..settings import Settings
from . import texts
from .health import ERROR, HANDLED, Health
from .render import send_reply
from .webserver import Webhook, WebServer

logger = logging.getLogger(__name__)
update_log = logging.getLogger("bot.updates")  # one line per update; filter or route it by name

# The state is written after every update, except while other updates are queued or in flight (a
# burst): then after at most this many (and by PTB's periodic write). Updates still queued when a
# process is killed are lost with it either way (Telegram counts them as delivered).
WRITE_DEFER_MAX = 16
# Updates handled at the same time, each of a different chat (a chat's own updates are handled
# one at a time, in order). Most of that time is spent waiting for Telegram's answers.
MAX_CONCURRENT_UPDATES = 32
PERSISTENCE_INTERVAL_S = 10.0  # PTB's periodic write, for changes made outside updates (timeouts)
GET_UPDATES = "getUpdates"
EMPTY_RESULT = b'"result":[]'  # how the Bot API writes a getUpdates answer with no updates
HTTP_OK = 200
POLL_TIMEOUT_S = 10  # seconds each getUpdates long poll waits for news (PTB's default)
RELOAD_PROBLEMS_SHOWN = 10  # problem lines of a refused knowledge base shown in the admin's chat
STOP_SIGNALS = ("SIGTERM", "SIGINT")  # graceful shutdown; SIGHUP reloads the knowledge base
RELOAD_SIGNAL = "SIGHUP"
NO_CHAT = "-"  # the chat type logged for updates without a chat
_MISSING = object()  # "no value yet", unequal to any stored value


# ----- the engine in service -----


@dataclasses.dataclass(frozen=True)
class _Loaded:
    engine: Engine
    dialogues: Dialogues


class EngineRef:
    """The engine in service and its dialogue runner, swapped together by a reload."""

    def __init__(self, engine: Engine) -> None:
        self._loaded = _Loaded(engine, Dialogues(engine))

    @property
    def engine(self) -> Engine:
        """The engine answering questions now."""
        return self._loaded.engine

    @property
    def dialogues(self) -> Dialogues:
        """The dialogue runner over the same knowledge base."""
        return self._loaded.dialogues

    def swap(self, engine: Engine) -> Engine:
        """Put `engine` in service (one assignment: no update sees half of each); returns the old one."""
        old = self._loaded.engine
        self._loaded = _Loaded(engine, Dialogues(engine))
        return old


# ----- the update being handled -----


@dataclasses.dataclass
class UpdateTrace:
    """One update on its way through the handlers: when it came in and how it ended."""

    update: object
    started: float = dataclasses.field(default_factory=time.perf_counter)
    outcome: str = HANDLED
    error: str | None = None


_current: contextvars.ContextVar[UpdateTrace | None] = contextvars.ContextVar(
    "shebao_update_trace", default=None
)


def note_outcome(outcome: str) -> None:
    """Set the outcome of the update being handled (nothing outside one; an error stays an error)."""
    trace = _current.get()
    if trace is not None and trace.outcome != ERROR:
        trace.outcome = outcome


def describe(update: object) -> tuple[str, str]:
    """The kind of an update (message, callback_query…) and the type of its chat, for the log."""
    if not isinstance(update, Update):
        return type(update).__name__, NO_CHAT
    kind = next((k for k in Update.ALL_TYPES if getattr(update, k, None) is not None), "empty")
    chat = update.effective_chat
    return kind, str(chat.type) if chat is not None else NO_CHAT


# ----- one chat at a time, chats side by side -----


def turn_key(update: object) -> tuple[str, int] | None:
    """Whose turn an update waits for: its chat's; the user's for inline queries (no chat)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


class _Turns:
    """The lock one chat's updates take in turn, and how many of them hold or wait for it."""

    __slots__ = ("lock", "updates")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.updates = 0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Handles updates of different chats concurrently, each chat's updates strictly in order.

    PTB hands each update over as soon as it is fetched, in order (an update with no chat is
    taken per user). Here it waits for the chat's earlier updates (a lock per chat: asyncio locks
    are first come, first served), then for one of `max_running` slots. The limit PTB itself
    enforces before this is left unbounded on purpose: an update waiting for its chat's turn must
    not hold a slot another chat's update could use, or a burst in one group would stall the rest.
    A chat's lock exists only while one of its updates is being handled or waiting.
    """

    def __init__(self, max_running: int = MAX_CONCURRENT_UPDATES) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        super().__init__(sys.maxsize)
        self.max_running = max_running
        self._running = asyncio.Semaphore(max_running)
        self._turns: dict[tuple[str, int], _Turns] = {}

    @property
    def chats_in_flight(self) -> int:
        """How many chats (or users) have an update being handled or waiting right now."""
        return len(self._turns)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update after the earlier ones of its chat, within the concurrency limit."""
        key = turn_key(update)
        turns = None
        if key is not None:
            turns = self._turns.get(key)
            if turns is None:
                turns = self._turns[key] = _Turns()
            turns.updates += 1
        try:
            async with turns.lock if turns is not None else contextlib.nullcontext(), self._running:
                await coroutine
        finally:
            if key is not None and turns is not None:
                turns.updates -= 1
                if not turns.updates:
                    del self._turns[key]
            if inspect.iscoroutine(coroutine) and (
                    inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED):
                coroutine.close()  # cancelled (at shutdown) before its turn came

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB waits for the updates in flight before it shuts down."""


# ----- state on disk -----


class StatePersistence(PicklePersistence):  # type: ignore[type-arg]
    """PicklePersistence written only by flush(), atomically, and only when something changed.

    Every update ends with a flush (see OpsApplication; in a burst every WRITE_DEFER_MAX
    updates): a kill -9 loses at most the updates in flight and not yet written, and never leaves
    a half-written file (the new file replaces the old one).
    """

    def __init__(self, filepath: Path | str, update_interval: float = PERSISTENCE_INTERVAL_S) -> None:
        super().__init__(filepath=filepath, on_flush=True, update_interval=update_interval)
        self.dirty = False
        self.writes = 0

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        """Keep a user's data in memory; mark the state dirty if it changed."""
        self.dirty |= (self.user_data or {}).get(user_id, _MISSING) != data
        await super().update_user_data(user_id, data)

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        """Keep a chat's data in memory; mark the state dirty if it changed."""
        self.dirty |= (self.chat_data or {}).get(chat_id, _MISSING) != data
        await super().update_chat_data(chat_id, data)

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        """Keep the bot's data in memory; mark the state dirty if it changed."""
        self.dirty |= self.bot_data != data
        await super().update_bot_data(data)

    async def update_callback_data(self, data: Any) -> None:
        """Keep the callback data cache in memory; mark the state dirty if it changed."""
        self.dirty |= self.callback_data != data
        await super().update_callback_data(data)

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        """Keep a conversation state in memory; mark the state dirty if it changed."""
        self.dirty |= (self.conversations or {}).get(name, {}).get(key, _MISSING) != new_state
        await super().update_conversation(name, key, new_state)

    async def drop_chat_data(self, chat_id: int) -> None:
        """Forget a chat's data."""
        self.dirty = True
        await super().drop_chat_data(chat_id)

    async def drop_user_data(self, user_id: int) -> None:
        """Forget a user's data."""
        self.dirty = True
        await super().drop_user_data(user_id)

    async def flush(self) -> None:
        """Write everything to a temporary file, then rename it over the real one."""
        final = Path(self.filepath)
        temporary = final.with_name(final.name + ".tmp")
        temporary.unlink(missing_ok=True)  # a leftover of a kill in the middle of a write
        self.filepath = temporary
        try:
            await super().flush()  # no await inside: nothing else runs while it writes
        finally:
            self.filepath = final
        if temporary.exists():
            os.replace(temporary, final)
            self.writes += 1
        self.dirty = False

    async def flush_if_dirty(self) -> None:
        """flush() when something changed since the last one."""
        if self.dirty:
            await self.flush()


# ----- getUpdates that survives an update it cannot parse -----


class UpdatesRequest(HTTPXRequest):
    """The getUpdates connection, which skips an update python-telegram-bot cannot parse.

    PTB parses a whole batch at once; when one update fails, nothing is confirmed and the same
    batch comes back forever: the bot would stop. When updates are asked for again from the
    offset that last brought some, each update is checked and a broken one is replaced by an
    empty update with its id, which confirms it (the screen handler logs and skips it).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connection_pool_size", 1)  # one long poll at a time, as PTB's default
        super().__init__(**kwargs)
        self._last_offset: object = None
        self._last_had_updates = False

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE, pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request; for a getUpdates repeated from the same offset, drop broken updates."""
        code, payload = await super().do_request(url, method, request_data, read_timeout,
                                                 write_timeout, connect_timeout, pool_timeout)
        if code != HTTP_OK or not url.endswith(GET_UPDATES):
            return code, payload
        offset = (request_data.parameters if request_data else {}).get("offset")
        retried = offset == self._last_offset and self._last_had_updates
        # A cheap look: an empty batch is '"result":[]'; a wrong guess only costs a check.
        self._last_offset, self._last_had_updates = offset, EMPTY_RESULT not in payload
        if not retried:
            return code, payload
        try:
            body = json.loads(payload)
            body["result"] = [screen_update(item) for item in body["result"]]
        except (ValueError, TypeError, KeyError):  # not the usual shape: leave it to PTB
            return code, payload
        return code, json.dumps(body).encode()


def screen_update(item: Any) -> Any:
    """An update as received if it parses, else an empty update with the same id."""
    try:
        Update.de_json(item, None)
        return item
    except Exception as exc:  # noqa: BLE001 - any failure means PTB cannot use it
        update_id = item.get("update_id") if isinstance(item, dict) else None
        logger.error("update %s cannot be parsed (%s: %s); skipping it", update_id,
                     type(exc).__name__, exc)
        return {"update_id": update_id} if isinstance(update_id, int) else item


# ----- operations state -----


@dataclasses.dataclass(frozen=True)
class Reloaded:
    """The result of a reload: whether the new base is in service, versions, the problems."""

    ok: bool
    old: str
    new: str
    problems: str = ""


class Ops:
    """What operations need at run time: settings, the engine in service, health and analytics."""

    def __init__(self, settings: Settings, ref: EngineRef, analytics: Analytics | None = None) -> None:
        self.settings = settings
        self.ref = ref
        self.analytics = analytics
        self.health = Health(lambda: ref.engine, "webhook" if settings.webhook_url else "polling")
        self.root = ref.engine.kb.root  # reloads read the folder the bot was started with
        self.web: WebServer | None = None  # the HTTP server while serve() runs (webhook, /healthz)
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- one update -----

    def finish(self, trace: UpdateTrace) -> None:
        """Count an update, keep its latency and log its line."""
        ms = (time.perf_counter() - trace.started) * 1000
        kind, chat = describe(trace.update)
        self.health.counters.count_outcome(trace.outcome)
        if trace.outcome == ERROR:
            self.health.counters.errors += 1
        self.health.note_latency(ms)
        update_id = trace.update.update_id if isinstance(trace.update, Update) else NO_CHAT
        update_log.info("update_id=%s type=%s chat=%s outcome=%s latency_ms=%.1f%s", update_id, kind,
                        chat, trace.outcome, ms, f" error={trace.error}" if trace.error else "")

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
                # Built in a worker process (or loaded from the cache): chats keep being answered.
                engine = await asyncio.to_thread(load_engine, self.root, old.matcher.thresholds,
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

    async def reload_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reload: admins (ADMIN_IDS) reload the knowledge base; others get a polite refusal."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        if user.id not in self.settings.admin_ids:
            logger.warning("/reload refused: the user is not in ADMIN_IDS")
            await send_reply(context.bot, chat.id, Reply(texts.RELOAD_NOT_ALLOWED, kind="menu"))
            return
        result = await self.reload()
        if result.ok:
            text = texts.RELOAD_DONE.format(new=result.new, old=result.old)
        else:
            text = texts.RELOAD_REFUSED.format(old=result.old, problems=shorten(result.problems))
        await send_reply(context.bot, chat.id, Reply(text, kind="menu"))

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
        self._unwritten = 0  # updates handled since the state was last written

    async def process_update(self, update: object) -> None:
        """Handle one update, write the state it changed, then count and log it."""
        trace = UpdateTrace(update)
        token = _current.set(trace)
        try:
            await super().process_update(update)
            self._unwritten += 1
            if not self.busy() or self._unwritten >= WRITE_DEFER_MAX:
                await self.write_state()
        except BaseException:
            trace.outcome = ERROR
            raise
        finally:
            _current.reset(token)
            self.ops.finish(trace)

    def busy(self) -> bool:
        """Whether updates besides the one finishing are queued, being handled or waiting their turn."""
        return not self.update_queue.empty() or self.update_processor.current_concurrent_updates > 1

    async def process_error(
        self, update: object | None, error: Exception, job: Any = None, coroutine: Any = None
    ) -> bool:
        """Mark the update being handled as failed (other errors are counted), then the handlers."""
        trace = _current.get()
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
        self._unwritten = 0
        await self.update_persistence()


# ----- running -----


async def serve(
    application: OpsApplication, stop: asyncio.Event, poll_timeout: int = POLL_TIMEOUT_S
) -> None:
    """Run until `stop` is set (polling, or the webhook when WEBHOOK_URL is set), then shut down.

    Shutting down: report not ready, stop taking updates (webhook server or polling), finish the
    queued ones, write the state, close analytics.
    """
    ops, settings = application.ops, application.ops.settings
    webhook = bool(settings.webhook_url)
    server: WebServer | None = None
    if webhook:
        assert settings.webhook_secret, "webhook mode needs WEBHOOK_SECRET"
        server = WebServer(ops.health, Webhook(application, settings.webhook_secret, ops.health),
                           settings.webhook_route)
    elif settings.health_port:
        server = WebServer(ops.health)
    ops.web = server
    registered = False
    updater = application.updater

    def ready() -> bool:
        if webhook:
            return application.running and registered
        return application.running and updater is not None and updater.running

    ops.health.ready_check = ready
    await application.initialize()
    try:
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
                allowed_updates=Update.ALL_TYPES,
            )
            registered = True
            logger.info("webhook registered; serving it on %s:%s%s", settings.webhook_listen,
                        server.port if server else "-", settings.webhook_route)
        else:
            assert updater is not None, "polling needs the Application's updater"
            await updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=poll_timeout,
                                        error_callback=ops.polling_error)
            await application.start()
            logger.info("long polling started (data in %s)", settings.data_dir)
        await stop.wait()
    finally:
        ops.health.stopping = True
        logger.info("shutting down: finishing the updates in flight")
        try:
            if webhook and server is not None:
                await server.stop()  # no new updates; the ones queued are still handled
            if updater is not None and updater.running:
                await updater.stop()
            if application.running:
                await application.stop()  # handles what is queued, then writes the state
                if application.post_stop is not None:
                    await application.post_stop(application)
            if server is not None:
                await server.stop()
        finally:
            await application.shutdown()  # flushes the persistence
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
        logger.info("stopped")


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


def run_until_signalled(application: OpsApplication) -> None:
    """Serve in a new event loop until SIGTERM or SIGINT; SIGHUP reloads the knowledge base."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = install_signals(loop, stop, application.ops.on_sighup)
        try:
            await serve(application, stop)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    asyncio.run(main())
