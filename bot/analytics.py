"""What curators learn from: answered, unanswered and "did you mean" questions and 👍/👎, in SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

from .damaged import set_aside
from .engine.reply import Reply, ReplyKind
from .engine.sensitive import redact

logger = logging.getLogger(__name__)

DB_FILE = "analytics.sqlite3"
SALT_FILE = "analytics.salt"  # per-install HMAC key: user ids cannot be linked across installs
SALT_BYTES = 32
SCHEMA_VERSION = 1
# Longer texts are cut: before matching (the Telegram layer) and when stored. No real question
# needs more; storage stays bounded.
MAX_QUESTION_CHARS = 500
# Redaction looks at this much of a question (a number cut in two at MAX_QUESTION_CHARS is still
# seen whole), so a huge question costs no more than a long one.
REDACT_WINDOW_CHARS = 4 * MAX_QUESTION_CHARS
MAX_PENDING = 10_000  # record() waits when this many events are queued but not yet written
BATCH_MAX = 500  # events written in one transaction
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's lock (e.g. a report)
WRITE_ATTEMPTS = 3  # a batch that still fails after this is logged and dropped
WRITE_RETRY_DELAY_S = 0.2  # doubled after each failed attempt
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # UTC; sorts as text, so periods are string ranges


class EventKind(StrEnum):
    """What an event records.

    UNANSWERED: the bot had nothing for a free-text question; NONE_OF_THESE: the user rejected
    every "did you mean" suggestion (recorded alone, not with UNANSWERED as well);
    SUGGESTION_CHOSEN: the user pressed one of them (chosen_entry_id, with the question asked).
    """

    ANSWERED = "answered"
    SUGGESTED = "suggested"
    UNANSWERED = "unanswered"
    SUGGESTION_CHOSEN = "suggestion_chosen"
    NONE_OF_THESE = "none_of_these"
    FEEDBACK_UP = "feedback_up"
    FEEDBACK_DOWN = "feedback_down"


# The names the report and older callers import.
ANSWERED, SUGGESTED, UNANSWERED = EventKind.ANSWERED, EventKind.SUGGESTED, EventKind.UNANSWERED
SUGGESTION_CHOSEN, NONE_OF_THESE = EventKind.SUGGESTION_CHOSEN, EventKind.NONE_OF_THESE
FEEDBACK_UP, FEEDBACK_DOWN = EventKind.FEEDBACK_UP, EventKind.FEEDBACK_DOWN
KINDS = frozenset(EventKind)
CLI = "cli"  # the chat type of the terminal
CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel", "sender", CLI})
OTHER_CHAT = "other"  # stored for a chat type not in CHAT_TYPES
# Reply kind → event kind for a free-text question; other reply kinds are not recorded.
REPLY_KINDS = {ReplyKind.ANSWER: ANSWERED, ReplyKind.CASE: ANSWERED,
               ReplyKind.SUGGEST: SUGGESTED, ReplyKind.NONE: UNANSWERED}
FEEDBACK = frozenset({FEEDBACK_UP, FEEDBACK_DOWN, NONE_OF_THESE})  # what a FeedbackSink records
VOTES = frozenset({FEEDBACK_UP, FEEDBACK_DOWN})

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{k}'" for k in sorted(KINDS))})),
    entry_id TEXT,
    chosen_entry_id TEXT,
    score REAL,
    chat_type TEXT,
    user_hash TEXT,
    question TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
PRAGMA user_version = {SCHEMA_VERSION};
"""
COLUMNS = ("ts", "kind", "entry_id", "chosen_entry_id", "score", "chat_type", "user_hash", "question")
INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

Row = tuple[str, str, str | None, str | None, float | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class Event:
    """One recorded event, as the report reads it back."""

    ts: dt.datetime
    kind: str
    entry_id: str | None
    chosen_entry_id: str | None
    score: float | None
    chat_type: str | None
    user_hash: str | None
    question: str | None


def kind_of(reply: Reply) -> EventKind | None:
    """The event kind for the engine's reply to a free-text question, or None to record nothing."""
    return REPLY_KINDS.get(reply.kind)


def format_ts(moment: dt.datetime) -> str:
    """A timestamp as stored: UTC, fixed width (a naive datetime is taken to be UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime(TIMESTAMP_FORMAT)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; an fsync per checkpoint only
    return conn


def _create(path: Path) -> None:
    conn = _connect(path)
    try:
        conn.executescript(SCHEMA)
    finally:
        conn.close()


def _load_salt(data_dir: Path) -> bytes:
    """The install's salt, created (readable by the owner only) the first time."""
    path = data_dir / SALT_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        salt = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(salt) < SALT_BYTES:
            raise ValueError(f"{path} is not a salt written by shebao-bot") from None
        return salt
    salt = secrets.token_bytes(SALT_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(salt.hex())
    return salt


class Analytics:
    """The event store: record() from any task; one background task writes, in batches."""

    def __init__(self, path: Path, salt: bytes) -> None:
        self.path = path
        self._salt = salt
        self._queue: asyncio.Queue[Row] | None = None
        self._writer: asyncio.Task[None] | None = None
        # One thread owns the write connection, so writes never contend inside this process.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        # Why events are being lost (a write failing after its retries, e.g. disk full; the
        # queue full), None once a write succeeds again; /healthz reports it as degraded.
        self.failure: str | None = None
        self.dropped = 0  # events lost since start
        self.problem: str | None = None  # what open() found damaged and set aside

    @classmethod
    def open(cls, data_dir: Path | str) -> Analytics:
        """Create or open the store in `data_dir` (schema, WAL mode, salt); no event loop needed.

        A file that is no database (or a salt that is no salt) is set aside under a timestamped
        name and a new one started; `problem` says so. A folder that cannot be written raises
        OSError or sqlite3.OperationalError.
        """
        root = Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        path = root / DB_FILE
        problems: list[str] = []
        try:
            _create(path)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # not a database, or its header is damaged
            aside = set_aside(path, str(exc), sqlite=True)
            problems.append(f"analytics database was damaged ({exc}): set aside as {aside.name}")
            _create(path)
        try:
            salt = _load_salt(root)
        except (ValueError, UnicodeDecodeError) as exc:
            aside = set_aside(root / SALT_FILE, str(exc))
            problems.append(f"analytics salt was damaged: set aside as {aside.name}")
            salt = _load_salt(root)
        analytics = cls(path, salt)
        analytics.problem = "; ".join(problems) or None
        return analytics

    def anonymise(self, user_id: int | None) -> str | None:
        """HMAC-SHA256 of a user id with the install's salt: the only form a user id is stored in."""
        if user_id is None:
            return None
        return hmac.new(self._salt, str(user_id).encode("ascii"), hashlib.sha256).hexdigest()

    def _row(self, kind: str, fields: EventFields) -> Row:
        if kind not in KINDS:
            raise ValueError(f"unknown analytics event kind {kind!r}; expected one of {sorted(KINDS)}")
        if self._closed:
            raise RuntimeError("the analytics store is closed")
        chat_type = fields.get("chat_type", CLI)
        if chat_type is not None and chat_type not in CHAT_TYPES:
            chat_type = OTHER_CHAT
        question, score = fields.get("question", ""), fields.get("score")
        text = redact(question[:REDACT_WINDOW_CHARS])[:MAX_QUESTION_CHARS].strip() or None
        moment = fields.get("at") or dt.datetime.now(dt.UTC)
        return (format_ts(moment), str(kind), fields.get("entry_id"), fields.get("chosen_entry_id"),
                None if score is None else float(score), chat_type,
                self.anonymise(fields.get("user_id")), text)

    async def record(self, kind: str, **fields: Unpack[EventFields]) -> None:
        """Queue one event; the question is redacted and the user id anonymised before queuing."""
        await self._ensure_writer().put(self._row(kind, fields))

    def record_nowait(self, kind: str, **fields: Unpack[EventFields]) -> None:
        """record() for synchronous code on the event loop's thread; drops (and logs) when full."""
        row = self._row(kind, fields)
        try:
            self._ensure_writer().put_nowait(row)
        except asyncio.QueueFull:
            logger.error("analytics queue full (%d events): dropped one %s event", MAX_PENDING, kind)
            self.dropped += 1
            self.failure = f"queue full ({MAX_PENDING} events waiting)"

    async def flush(self) -> None:
        """Wait until every event queued so far is written."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Write what is queued, stop the writer and close the database; record() fails afterwards."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_conn)
        self._executor.shutdown(wait=True)

    # ----- the writer -----

    def _ensure_writer(self) -> asyncio.Queue[Row]:
        """The queue, with its writer task started on first use (inside the running loop)."""
        if self._queue is None:
            self._queue = asyncio.Queue(MAX_PENDING)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="analytics-writer")
        return self._queue

    async def _drain(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < BATCH_MAX and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _write(self, batch: list[Row]) -> None:
        loop = asyncio.get_running_loop()
        delay = WRITE_RETRY_DELAY_S
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await loop.run_in_executor(self._executor, self._insert, batch)
                self.failure = None
                return
            except sqlite3.Error as exc:
                if attempt == WRITE_ATTEMPTS:
                    logger.error("analytics: %d event(s) dropped after %d attempts: %s",
                                 len(batch), attempt, exc)
                    self.dropped += len(batch)
                    self.failure = f"writes failing: {type(exc).__name__}: {exc}"
                    return
                logger.warning("analytics write failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay *= 2

    def _insert(self, batch: list[Row]) -> None:
        """Runs in the writer thread: one transaction per batch."""
        if self._conn is None:
            self._conn = _connect(self.path)
        with self._conn:
            self._conn.executemany(INSERT, batch)

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class EventFields(TypedDict, total=False):
    """What an event may carry besides its kind (chat_type defaults to the terminal's)."""

    entry_id: str | None
    chosen_entry_id: str | None
    score: float | None
    chat_type: str | None
    user_id: int | None
    question: str
    at: dt.datetime | None


class EventSink(Protocol):
    """Records what became of a question; Analytics implements it. It must not block (events
    are queued and written in the background)."""

    def record_nowait(self, kind: str, **fields: Unpack[EventFields]) -> None:
        """Queue one event; the question is redacted and the user id anonymised by the store."""


class FeedbackSink(Protocol):
    """Records one piece of feedback with the question it was about."""

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Keep one vote (FEEDBACK_UP/FEEDBACK_DOWN on an entry) or a 都不是 (NONE_OF_THESE)."""


class LoggingFeedbackSink:
    """Feedback as one log line each (the log filter redacts numbers), when nothing is stored."""

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Log the feedback."""
        logger.info("feedback %s entry=%s user=%s chat=%s question=%r",
                    kind, entry_id, user_id, chat_type, text)


class AnalyticsFeedbackSink:
    """A FeedbackSink (👍/👎/都不是) backed by an Analytics store."""

    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics

    def record(
        self, kind: str, entry_id: str | None, user_id: int | None, chat_type: str | None, text: str
    ) -> None:
        """Queue one piece of feedback as an analytics event."""
        self.analytics.record_nowait(kind, entry_id=entry_id, user_id=user_id,
                                     chat_type=chat_type, question=text)


def read_events(
    data_dir: Path | str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[Event]:
    """Events with since <= ts < until, oldest first; [] when the bot has recorded nothing yet."""
    path = Path(data_dir) / DB_FILE
    if not path.is_file():
        return []
    clauses, params = [], []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(format_ts(since))
    if until is not None:
        clauses.append("ts < ?")
        params.append(format_ts(until))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events{where} ORDER BY ts, id",
                            params).fetchall()
    finally:
        conn.close()
    return [Event(dt.datetime.strptime(r[0], TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC), *r[1:])
            for r in rows]
