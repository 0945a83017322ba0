"""A disk cache of built engines: a knowledge folder's engine is loaded, not rebuilt, while neither
the folder nor the code has changed since it was built.

The key hashes every file of the knowledge folder (paths and bytes: whatever the loader reads) and
the folder's path, every source file of
the bot package (any code change is a new key, so the cache needs to know nothing of what an
engine holds: it pickles the whole Engine), the Python version, the installed libraries whose
objects an engine may hold, and the engine's arguments. An engine is stored only after its base
passed the check, so a hit skips the check: of the check's date tests, a review date in the past
is only a warning, and an as_of in the future can only become valid with time.

Where: BOT_CACHE_DIR, else BOT_DATA_DIR/cache, else ~/.cache/shebao-bot (or XDG_CACHE_HOME). The
folder must be writable by the bot's user only: a pickle is code. A cache file that cannot be read
or unpickled is logged, removed and rebuilt. One file per knowledge folder is kept, and at most
MAX_FILES in all.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import io
import logging
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from .engine import Engine
from .knowledge import DEFAULT_DIR

logger = logging.getLogger(__name__)

CACHE_ENV, DATA_ENV = "BOT_CACHE_DIR", "BOT_DATA_DIR"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the bot package
# Libraries whose objects a built engine holds (or may hold): a new version is a new key.
LIBRARIES = ("rjieba", "jieba", "pypinyin", "opencc", "rapidfuzz", "yaml", "sklearn", "numpy", "scipy")
MAX_FILES = 8
STALE_TMP_S = 3600  # a half-written file this old is left over, not being written
FREEZE_BYTES = 16 * 2**20  # an engine this large (pickled) is frozen out of the cyclic GC's sight
WORKER_NICE = 10  # a reload's build yields the CPU to the chats being answered


def cache_dir() -> Path:
    """Where built engines are kept (see the module's docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    data = os.environ.get(DATA_ENV)
    if data:
        return Path(data) / "cache"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "shebao-bot"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the code that builds engines, taken once per process: the code in memory."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".txt") and "__pycache__" not in path.parts and path.is_file():
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        # The module's file and its modification time change when the library is reinstalled.
        stamp = f"{origin}:{os.stat(origin).st_mtime_ns}" if origin and os.path.exists(origin) else "-"
        digest.update(f"{name}={stamp};".encode())
    return digest.hexdigest()


def folder_digest(root: Path) -> str:
    """A hash of every file under the knowledge folder (relative paths and bytes; hidden files,
    such as an editor's swap files, are left out), without parsing any."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def cache_file(root: Path, *args: Any, directory: Path | None = None, **kwargs: Any) -> Path:
    """The cache file for this folder's current content, this code and these arguments of
    Engine.from_folder (their repr is part of the key)."""
    if not root.is_dir():
        raise NotADirectoryError(root)
    folder = str(root.resolve())
    key = hashlib.sha256()
    for part in (code_version(), folder, folder_digest(root), repr((args, sorted(kwargs.items())))):
        key.update(part.encode())
        key.update(b"\0")
    tag = hashlib.sha256(folder.encode()).hexdigest()[:12]
    return (directory or cache_dir()) / f"engine-{tag}-{key.hexdigest()[:32]}.pickle"


def load_engine(
    root: Path | str | None = None, *args: Any, directory: Path | None = None,
    worker: bool = False, **kwargs: Any,
) -> Engine:
    """The engine of a knowledge folder: from the cache when it holds this content built by this
    code, else Engine.from_folder(root, *args, **kwargs) (which raises KnowledgeError for a base
    that fails the check), stored. With `worker`, a build runs in a separate process (a running
    bot's reload: the build then takes none of this process's time, only the loading of its
    result)."""
    path = Path(root) if root else DEFAULT_DIR
    try:
        target = cache_file(path, *args, directory=directory, **kwargs)
    except OSError:  # not a folder, an unreadable file: the check says what is wrong
        return Engine.from_folder(path, *args, **kwargs)
    engine = _read(target)
    if engine is not None:
        logger.debug("engine loaded from the cache %s", target)
        return engine
    data = None
    if worker:
        try:
            data = _build_in_worker(path, args, kwargs)
        except (OSError, BrokenProcessPool) as exc:  # no processes here (no /dev/shm, limits…)
            logger.warning("no worker process for the build (%s: %s): building in this one",
                           type(exc).__name__, exc)
    if data is not None:
        engine = _unpickle(io.BytesIO(data))
    else:
        engine = Engine.from_folder(path, *args, **kwargs)
        data = pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        unchanged = cache_file(path, *args, directory=directory, **kwargs) == target
    except OSError:
        unchanged = False
    if unchanged:  # a file edited during the build: the next start builds again
        _write(target, data)
    return engine


def _read(target: Path) -> Engine | None:
    """The cached engine, or None when there is none or it is unusable (then removed)."""
    try:
        stream = target.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("engine cache %s cannot be read (%s): rebuilding", target, exc)
        return None
    try:
        with stream:  # read as unpickled: the bytes are never all in memory
            engine = _unpickle(stream)
        if not isinstance(engine, Engine):
            raise TypeError(f"holds a {type(engine).__name__}, not an Engine")
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle raises anything at all
        logger.warning("engine cache %s is unusable (%s: %s): rebuilding", target,
                       type(exc).__name__, exc)
        target.unlink(missing_ok=True)
        return None
    return engine


class _Yielding:
    """A stream read through Python-level calls. The C unpickler asks for one frame (64 KB) at a
    time; each call is a point where this thread lets others take the GIL, so that a reload
    loading a large engine in a thread does not hold up the event loop for the whole load."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self._stream.readinto(buffer)  # type: ignore[attr-defined, no-any-return]

    def readline(self) -> bytes:
        return self._stream.readline()


def _unpickle(stream: IO[bytes]) -> Any:
    with _no_cyclic_gc():
        engine = pickle.load(_Yielding(stream))  # noqa: S301 - our own cache or worker, see above
        if stream.tell() >= FREEZE_BYTES:
            # Left young, a large engine's millions of objects would be walked by the collector's
            # next passes, each holding the GIL for a third of a second. Frozen, they never are;
            # an engine holds no reference cycles, so a replaced one is still freed.
            gc.freeze()
    return engine


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: unpickling creates millions of objects, none of them
    garbage, and the collector's passes over them would add a third to the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write(target: Path, data: bytes) -> None:
    """Store atomically (a reader never sees half a file); drop older files of the same folder."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        same_folder = target.name.rsplit("-", 1)[0] + "-"
        kept = sorted(target.parent.glob("engine-*.pickle"), key=_mtime, reverse=True)
        for number, old in enumerate(kept):
            if old != target and (old.name.startswith(same_folder) or number >= MAX_FILES):
                old.unlink(missing_ok=True)
        for left in target.parent.glob(".tmp-*"):  # of a process killed while writing
            if time.time() - _mtime(left) > STALE_TMP_S:
                left.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("engine cache %s not written (%s); the next start builds again", target, exc)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        os.nice(WORKER_NICE)


def _build_pickled(root: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """In the worker: build (and check) the engine, returned pickled."""
    engine = Engine.from_folder(Path(root), *args, **kwargs)
    return pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)


def _build_in_worker(root: Path, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    context = multiprocessing.get_context("spawn")  # a clean process: no copy of this one's threads
    with ProcessPoolExecutor(1, mp_context=context, initializer=_lower_priority) as pool:
        return pool.submit(_build_pickled, str(root), args, kwargs).result()
