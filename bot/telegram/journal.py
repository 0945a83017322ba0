"""Updates received and not yet handled, on disk, so that neither a crash nor a shutdown loses one.

An update is written here before Telegram learns it arrived (the webhook's HTTP 200; in polling
mode, the next getUpdates offset), and crossed off once handled. Those left at a kill -9, or left
unhandled when a shutdown stopped waiting for a group's backlog, are handled after the restart.

- SQLite in WAL mode with synchronous=NORMAL: a committed write survives the process being killed
  (it is in the operating system's hands); a power cut may take the last moments' writes.
- An update whose id is here already (Telegram sending it again, or one replayed) is not
  handled twice; handled ids are kept for a while (KEEP_DONE) for that.
- Delivery after a crash is "at least once": an update being handled when the process died is
  handled again after the restart (its answer may then come twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..damaged import close_quietly, set_aside

logger = logging.getLogger(__name__)

JOURNAL_FILE = "telegram-updates.sqlite3"
KEEP_DONE = 2_000  # handled update ids kept to recognise one Telegram sends again
PRUNE_EVERY = 500
RECENT_IDS = 10_000  # ids written by this process, remembered to tell PTB's retries from repeats  # handled updates between two prunings
BUSY_TIMEOUT_S = 10.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    update_id INTEGER PRIMARY KEY,
    body TEXT,              -- the update as received (NULL once handled)
    received REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""
JsonDict = dict[str, Any]


class UpdateJournal:
    """The journal file: add() before acknowledging, done() after handling, pending() at start."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.problem: str | None = None
        self.added = 0
        self.replayed = 0
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._done_since_prune = 0
        self._closed = False
        self.failures = 0  # writes that failed (those updates are not on disk)
        # Ids first written by this process (a batch PTB asks for again is no repeat).
        self._this_run: deque[int] = deque()
        self._this_run_ids: set[int] = set()

    # ----- opening (at start, before the event loop serves) -----

    def open(self) -> list[JsonDict]:
        """Open (or create) the file; the updates received but never handled, oldest first.

        A damaged file is set aside and a new one started; a folder that cannot be written
        leaves the journal off (`problem` says why; updates are then held in memory only).
        """
        try:
            return self._executor.submit(self._open).result()
        except sqlite3.OperationalError as exc:
            self.problem = f"update journal off (a crash may lose queued updates): {exc}"
            logger.error("cannot open the update journal %s: %s", self.path.name, exc)
            self._close()
            return []

    def _open(self) -> list[JsonDict]:
        try:
            pending = self._read()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            self._close()
            aside = set_aside(self.path, str(exc), sqlite=True)
            self.problem = f"update journal was damaged ({exc}): set aside as {aside.name}"
            pending = self._read()
        return pending

    def _read(self) -> list[JsonDict]:
        conn = self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # survives a kill; a power cut may lose the last
        conn.executescript(SCHEMA)
        pending: list[JsonDict] = []
        for update_id, body in conn.execute(
                "SELECT update_id, body FROM updates WHERE done = 0 ORDER BY update_id"):
            try:
                item = json.loads(body)
            except (TypeError, ValueError):
                item = {"update_id": update_id}  # unreadable: confirmed, skipped
            pending.append(item if isinstance(item, dict) else {"update_id": update_id})
        return pending

    @property
    def on(self) -> bool:
        """Whether updates are being written (the file could be opened)."""
        return self._conn is not None and not self._closed

    # ----- while serving -----

    async def add(self, items: list[JsonDict], again_in_this_run: bool = False) -> list[bool]:
        """Write updates before they are acknowledged; for each, whether it is new (False: it
        was received before, so it must not be handled again).

        With `again_in_this_run` (polling: PTB asks for a batch again when it could not parse
        it, and has handled none of it) an update first written by this process counts as new.
        """
        if not self.on or not items:
            return [True] * len(items)
        rows = [(item.get("update_id"), json.dumps(item, ensure_ascii=False)) for item in items]
        try:
            fresh: list[bool] = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._add, rows, again_in_this_run)
        except (sqlite3.Error, RuntimeError) as exc:  # e.g. disk full: answer anyway, say so
            logger.error("update journal: cannot write %d update(s): %s", len(rows), exc)
            self.problem = f"update journal writes failing: {type(exc).__name__}: {exc}"
            self.failures += 1
            return [True] * len(items)
        self.added += sum(fresh)
        return fresh

    def _add(self, rows: list[tuple[Any, str]], again_in_this_run: bool) -> list[bool]:
        assert self._conn is not None
        fresh: list[bool] = []
        now = time.time()
        with self._conn:
            for update_id, body in rows:
                if not isinstance(update_id, int):
                    fresh.append(True)
                    continue
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO updates (update_id, body, received) VALUES (?, ?, ?)",
                    (update_id, body, now))
                new = cursor.rowcount == 1
                if new:
                    self._this_run.append(update_id)
                    self._this_run_ids.add(update_id)
                    while len(self._this_run) > RECENT_IDS:
                        self._this_run_ids.discard(self._this_run.popleft())
                fresh.append(new or (again_in_this_run and update_id in self._this_run_ids))
        return fresh

    async def done(self, update_id: int) -> None:
        """Cross an update off once handled (errors are logged: it is then handled again after
        a restart, which is better than lost)."""
        if not self.on:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._done, update_id)
        except (sqlite3.Error, RuntimeError) as exc:
            logger.warning("update journal: cannot cross off update %s: %s", update_id, exc)

    def _done(self, update_id: int) -> None:
        if self._conn is None:
            return
        with self._conn:
            self._conn.execute("UPDATE updates SET done = 1, body = NULL WHERE update_id = ?",
                               (update_id,))
            self._done_since_prune += 1
            if self._done_since_prune >= PRUNE_EVERY:
                self._done_since_prune = 0
                self._conn.execute(
                    "DELETE FROM updates WHERE done = 1 AND update_id < (SELECT update_id FROM "
                    "updates WHERE done = 1 ORDER BY update_id DESC LIMIT 1 OFFSET ?)",
                    (KEEP_DONE,))

    def pending_count(self) -> int:
        """How many updates wait in the file (for tests and the shutdown log)."""
        if not self.on:
            return 0
        return int(self._executor.submit(self._count).result())

    def _count(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT COUNT(*) FROM updates WHERE done = 0").fetchone()[0])

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    async def close(self) -> None:
        """Close the file (what is not crossed off stays for the next start)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
