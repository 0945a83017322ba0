"""Files the bot cannot read: set aside under a timestamped name, so that it starts afresh and an
operator can look at (or recover) what was there."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

SUFFIX = ".damaged-{stamp}"  # state.sqlite3 → state.sqlite3.damaged-20261129T091500Z
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's companions, moved along


def stamp(now: dt.datetime | None = None) -> str:
    """A UTC timestamp for file names: 20261129T091500Z."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def set_aside(path: Path, why: str, sqlite: bool = False) -> Path:
    """Rename a damaged file (and SQLite's companions) to `<name>.damaged-<time>`; log it.

    Returns the new name. Raises OSError when it cannot be renamed (e.g. a read-only folder).
    """
    target = path.with_name(path.name + SUFFIX.format(stamp=stamp()))
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{SUFFIX.format(stamp=stamp())}-{n}")
    os.replace(path, target)
    if sqlite:
        for side in SQLITE_SIDE_FILES:
            companion = path.with_name(path.name + side)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + side))
    logger.error("%s is damaged (%s): set aside as %s; starting afresh", path.name, why, target.name)
    return target


def close_quietly(conn: sqlite3.Connection | None) -> None:
    """Close a SQLite connection that may already be broken (a damaged file, a full disk)."""
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
