"""The bot's state on disk: a PTB persistence on SQLite, one row per chat and one per user.

- A write costs the same whatever the number of chats: after an update only the rows of the chat
  and user it touched are written, and only if they changed (PTB hands over just those), in one
  transaction, in a thread of their own (never on the event loop).
- What the docs promise survives a power cut does: WAL with synchronous=FULL, so each committed
  write is fsynced before the bot goes on.
- A chat's question history (edits follow it) expires after REPLY_TTL_S, and its questions are
  stored with sensitive numbers redacted (ChatData.remember).
- A pickle state file of an older version is taken over on first start, then renamed.
- A damaged file is set aside (bot.damaged) after what can be read was taken from it; a data
  folder the bot may not write leaves the state in memory only. Both are reported by `problem`
  (/healthz "degraded").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from ..damaged import close_quietly, set_aside, stamp
from .memory import ChatData, UserData

logger = logging.getLogger(__name__)

PERSISTENCE_INTERVAL_S = 10.0  # PTB's periodic write, for changes made outside updates (timeouts)
BUSY_TIMEOUT_S = 10.0
USERS, CHATS = "user_data", "chat_data"
SCHEMA = """
CREATE TABLE IF NOT EXISTS user_data (id INTEGER PRIMARY KEY, data BLOB NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chat_data (id INTEGER PRIMARY KEY, data BLOB NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    name TEXT NOT NULL, key BLOB NOT NULL, state BLOB NOT NULL, PRIMARY KEY (name, key)
);
"""
MIGRATED = ".migrated-{stamp}"  # telegram-state.pickle → telegram-state.pickle.migrated-<time>
READ_ONLY_PROBLEM = "the data folder cannot be written: state is kept in memory only until restart"

Row = tuple[str, int, bytes | None]  # table, id, pickled data (None: delete the row)


def _dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if read_only:  # immutable: no -wal/-shm needed (what only the WAL holds is not seen)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                               timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        return conn
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # each commit fsynced: it survives a power cut
    return conn


class Damaged(sqlite3.DatabaseError):
    """Part of a table could not be read: the file is damaged."""


def _rows(conn: sqlite3.Connection, table: str, found: dict[int, Any],
          digests: dict[tuple[str, int], bytes] | None = None) -> int:
    """Read every readable row of a table into `found`; how many rows could not be unpickled.

    Raises Damaged (after reading what it could) when SQLite cannot read on.
    """
    bad = 0
    try:
        for key, blob in conn.execute(f"SELECT id, data FROM {table}"):  # noqa: S608 - fixed names
            try:
                found[int(key)] = pickle.loads(blob)
                if digests is not None:
                    digests[(table, int(key))] = _digest(blob)
            except Exception:  # noqa: BLE001 - one bad row costs that row only
                bad += 1
    except sqlite3.DatabaseError as exc:  # the rest of the table is unreadable
        raise Damaged(f"{table}: {exc}") from exc
    return bad


def _conversations(conn: sqlite3.Connection) -> dict[str, dict[Any, object]]:
    found: dict[str, dict[Any, object]] = {}
    with contextlib.suppress(sqlite3.DatabaseError):
        for name, key, state in conn.execute("SELECT name, key, state FROM conversations"):
            with contextlib.suppress(Exception):
                found.setdefault(str(name), {})[pickle.loads(key)] = pickle.loads(state)
    return found


class Loaded:
    """What was read at start: users, chats and conversation states."""

    def __init__(self) -> None:
        self.users: dict[int, Any] = {}
        self.chats: dict[int, Any] = {}
        self.conversations: dict[str, dict[Any, object]] = {}
        self.unreadable = 0


class StatePersistence(BasePersistence[UserData, ChatData, dict[Any, Any]]):
    """PTB persistence on SQLite, one row per chat and per user, only changed rows written."""

    def __init__(self, filepath: Path | str, legacy: Path | str | None = None,
                 update_interval: float = PERSISTENCE_INTERVAL_S) -> None:
        super().__init__(store_data=PersistenceInput(bot_data=False, callback_data=False),
                         update_interval=update_interval)
        self.path = Path(filepath)
        self.legacy = Path(legacy) if legacy is not None else None
        self.problem: str | None = None  # what went wrong at start (damage, read-only), for /healthz
        self.read_only = False
        self.writes = 0  # transactions committed
        self.rows_written = 0
        self.write_seconds = 0.0  # spent in the writer thread, all writes together
        self._pending: dict[tuple[str, int], bytes | None] = {}
        self._conversation_rows: dict[tuple[str, bytes], bytes] = {}
        self._written: dict[tuple[str, int], bytes] = {}  # digest of each row as last written
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state")
        self._conn: sqlite3.Connection | None = None
        self._loaded: Loaded | None = None
        self._load_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    @property
    def dirty(self) -> bool:
        """Whether changes wait to be written."""
        return bool(self._pending or self._conversation_rows)

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # ----- reading, once, at start -----

    async def _load(self) -> Loaded:
        async with self._load_lock:
            if self._loaded is None:
                self._loaded = await self._run(self._open)
            return self._loaded

    def _open(self) -> Loaded:
        """Runs in the state thread: open (or create, migrate, set aside) the file; read it all."""
        problems: list[str] = []
        loaded = Loaded()
        fresh = not self.path.exists()
        try:
            self._conn = _connect(self.path)
            self._conn.executescript(SCHEMA)
            if not fresh:  # every row is read: a damaged page shows here (no costly full check)
                self._read(self._conn, loaded)
        except sqlite3.OperationalError as exc:  # cannot write here (read-only folder or file)
            self._close()
            self.read_only = True
            logger.error("cannot write the state file %s (%s): %s", self.path.name, exc,
                         READ_ONLY_PROBLEM)
            problems.append(READ_ONLY_PROBLEM)
            loaded = Loaded()
            if self.path.exists():
                with contextlib.suppress(sqlite3.Error), contextlib.closing(
                        _connect(self.path, read_only=True)) as conn:
                    self._read(conn, loaded)
            elif self.legacy is not None and self.legacy.exists():
                self._read_legacy(loaded, problems, keep=True)
            self.problem = "; ".join(problems)
            return loaded
        except sqlite3.DatabaseError as exc:  # not a database, or damaged
            self._close()
            problems.append(self._salvage(exc, loaded))
            self._conn = _connect(self.path)
            self._conn.executescript(SCHEMA)
            self._put_all(loaded)
        else:
            if fresh and self.legacy is not None and self.legacy.exists():
                self._read_legacy(loaded, problems)
                self._put_all(loaded)
        if loaded.unreadable:
            problems.append(f"{loaded.unreadable} unreadable state row(s) skipped")
            logger.error("state: %d unreadable row(s) skipped", loaded.unreadable)
        self.problem = "; ".join(problems) or None
        return loaded

    def _read(self, conn: sqlite3.Connection, loaded: Loaded) -> None:
        """Read every row (what could be read stays in `loaded` if Damaged is raised)."""
        loaded.unreadable += _rows(conn, USERS, loaded.users, self._written)
        loaded.unreadable += _rows(conn, CHATS, loaded.chats, self._written)
        loaded.conversations.update(_conversations(conn))

    def _salvage(self, exc: sqlite3.DatabaseError, loaded: Loaded) -> str:
        """Keep what could be read from a damaged file (more, read-only, if nothing was), then
        set it aside."""
        if not (loaded.users or loaded.chats):
            with contextlib.suppress(sqlite3.Error), contextlib.closing(
                    _connect(self.path, read_only=True)) as conn:
                self._read(conn, loaded)
        self._written.clear()  # the new file holds nothing yet
        aside = set_aside(self.path, str(exc), sqlite=True)
        kept = len(loaded.users) + len(loaded.chats)
        return f"state file was damaged ({exc}): set aside as {aside.name}, {kept} row(s) kept"

    def _read_legacy(self, loaded: Loaded, problems: list[str], keep: bool = False) -> None:
        """Take over the pickle file an older version wrote; rename it (unless `keep`)."""
        assert self.legacy is not None
        try:
            with self.legacy.open("rb") as file:
                data = pickle.load(file)  # noqa: S301 - the bot's own file
            loaded.users.update(data.get(USERS) or {})
            loaded.chats.update(data.get(CHATS) or {})
            loaded.conversations.update(data.get("conversations") or {})
        except Exception as exc:  # noqa: BLE001 - a damaged pickle is set aside, not fatal
            if keep:
                problems.append(f"old state file unreadable ({type(exc).__name__})")
                return
            aside = set_aside(self.legacy, f"{type(exc).__name__}: {exc}")
            problems.append(f"old state file was damaged: set aside as {aside.name}")
            return
        if not keep:
            os.replace(self.legacy, self.legacy.with_name(
                self.legacy.name + MIGRATED.format(stamp=stamp())))
            logger.info("state taken over from %s: %d user(s), %d chat(s)", self.legacy.name,
                        len(loaded.users), len(loaded.chats))

    def _put_all(self, loaded: Loaded) -> None:
        rows: list[Row] = [(USERS, k, _dumps(dict(v))) for k, v in loaded.users.items() if v]
        rows += [(CHATS, k, _dumps(dict(v))) for k, v in loaded.chats.items() if v]
        conversations = [(name, _dumps(key), _dumps(state))
                         for name, states in loaded.conversations.items()
                         for key, state in states.items()]
        self._commit(rows, conversations)

    # ----- what PTB asks for at start -----

    async def get_user_data(self) -> dict[int, UserData]:
        """Each user's data, typed."""
        return {k: UserData(v) for k, v in (await self._load()).users.items()}

    async def get_chat_data(self) -> dict[int, ChatData]:
        """Each chat's data, typed, with question history past its time dropped."""
        now = time.time()
        chats: dict[int, ChatData] = {}
        for key, value in (await self._load()).chats.items():
            data = ChatData(value)
            data.expire(now)
            chats[key] = data
        return chats

    async def get_bot_data(self) -> dict[Any, Any]:
        """Not stored."""
        return {}

    async def get_callback_data(self) -> None:
        """Not stored (the bot's buttons carry their own data)."""
        return None

    async def get_conversations(self, name: str) -> dict[Any, object]:
        """The states of a persistent ConversationHandler."""
        return dict((await self._load()).conversations.get(name, {}))

    # ----- changes, kept until the next flush -----

    def _note(self, table: str, key: int, data: dict[Any, Any] | None) -> None:
        blob = _dumps(dict(data)) if data else None
        digest = _digest(blob) if blob is not None else None
        if self._written.get((table, key)) == digest:
            self._pending.pop((table, key), None)
            return
        self._pending[(table, key)] = blob

    async def update_user_data(self, user_id: int, data: UserData) -> None:
        """Note a user's data for the next write, if it changed."""
        self._note(USERS, user_id, data)

    async def update_chat_data(self, chat_id: int, data: ChatData) -> None:
        """Note a chat's data for the next write, if it changed (old history dropped first)."""
        data.expire(time.time())
        self._note(CHATS, chat_id, data)

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        """Not stored."""

    async def update_callback_data(self, data: Any) -> None:
        """Not stored."""

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        """Note a conversation state for the next write."""
        self._conversation_rows[(name, _dumps(key))] = _dumps(new_state)

    async def drop_chat_data(self, chat_id: int) -> None:
        """Forget a chat's data."""
        self._note(CHATS, chat_id, None)

    async def drop_user_data(self, user_id: int) -> None:
        """Forget a user's data."""
        self._note(USERS, user_id, None)

    async def refresh_user_data(self, user_id: int, user_data: UserData) -> None:
        """Nothing to refresh: this process is the only writer."""

    async def refresh_chat_data(self, chat_id: int, chat_data: ChatData) -> None:
        """Nothing to refresh: this process is the only writer."""

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        """Nothing to refresh."""

    # ----- writing -----

    async def flush(self) -> None:
        """Write the changed rows in one transaction (in the state thread), then go on."""
        async with self._write_lock:
            if self.read_only or not self.dirty or self._loaded is None:
                return
            pending, self._pending = self._pending, {}
            conversations, self._conversation_rows = self._conversation_rows, {}
            rows = [(table, key, blob) for (table, key), blob in pending.items()]
            try:
                await self._run(self._commit, rows,
                                [(n, k, s) for (n, k), s in conversations.items()])
            except BaseException:
                for (table, key), blob in pending.items():  # kept for the next attempt
                    self._pending.setdefault((table, key), blob)
                for ck, state in conversations.items():
                    self._conversation_rows.setdefault(ck, state)
                raise
            for table, key, blob in rows:
                if blob is None:
                    self._written.pop((table, key), None)
                else:
                    self._written[(table, key)] = _digest(blob)

    async def flush_if_dirty(self) -> None:
        """flush() when something changed since the last one."""
        if self.dirty:
            await self.flush()

    def _commit(self, rows: list[Row], conversations: list[tuple[str, bytes, bytes]]) -> None:
        """Runs in the state thread."""
        started = time.perf_counter()
        if self._conn is None:
            self._conn = _connect(self.path)
        now = time.time()
        with self._conn:
            for table, key, blob in rows:
                if blob is None:
                    self._conn.execute(f"DELETE FROM {table} WHERE id = ?", (key,))  # noqa: S608
                else:
                    self._conn.execute(
                        f"INSERT OR REPLACE INTO {table} (id, data, updated) VALUES (?, ?, ?)",  # noqa: S608
                        (key, blob, now))
            self._conn.executemany(
                "INSERT OR REPLACE INTO conversations (name, key, state) VALUES (?, ?, ?)",
                conversations)
        self.writes += 1
        self.rows_written += len(rows)
        self.write_seconds += time.perf_counter() - started

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    async def close(self) -> None:
        """Write what is left and close the file (the state thread ends)."""
        with contextlib.suppress(Exception):
            await self.flush()
        await self._run(self._close)
        self._executor.shutdown(wait=True)


def read_state(path: Path | str) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """(users, chats) as stored in a state file, for tests and operators (read-only)."""
    users: dict[int, Any] = {}
    chats: dict[int, Any] = {}
    with contextlib.closing(sqlite3.connect(Path(path), timeout=BUSY_TIMEOUT_S)) as conn:
        _rows(conn, USERS, users)
        _rows(conn, CHATS, chats)
    return users, chats
