"""Counters of what the bot did and the GET /healthz report built from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..engine import Engine

HEALTH_PATH = "/healthz"
OK, STARTING, STOPPING = "ok", "starting", "stopping"  # the "status" field of the report
STATUS_READY, STATUS_NOT_READY = 200, 503  # a load balancer or HEALTHCHECK reads the HTTP status
LAST_ERROR_CHARS = 2000  # a refused reload's problems are kept for /healthz up to this length
LATENCY_WINDOW = 1000  # latencies of the last this many updates give the p50/p99 on /healthz
# /healthz may be reachable from anywhere (the webhook listens on 0.0.0.0): a refused reload's
# problems are shown only to requests from this machine that no proxy forwarded; others read this.
PUBLIC_RELOAD_ERROR = "reload failed"
FORWARDED_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")  # set by reverse proxies
# The folders of an absolute path ("/srv/bot/knowledge/faq/x.yaml" → "x.yaml"); not in URLs.
_ABSOLUTE_DIRS = re.compile(r"(?<![\w.:/~-])/(?:[^\s/:'\"]+/)+")

# Per-update outcomes (the "outcome" field of the update log line). The first three are the
# engine's verdict on a free-text question (bot.analytics.kind_of); the others are set by the
# layer that saw the update.
ANSWERED, SUGGESTED, UNANSWERED = "answered", "suggested", "unanswered"
HANDLED, SKIPPED, ERROR = "handled", "skipped", "error"


@dataclasses.dataclass
class Counters:
    """Totals since the process started; every field is one counter on /healthz."""

    updates: int = 0  # updates handled, whatever the outcome
    answered: int = 0  # questions answered (an entry or a case verdict)
    suggested: int = 0  # questions answered with "did you mean"
    unanswered: int = 0  # questions the knowledge base had nothing for
    skipped: int = 0  # updates the bot has nothing to do with (channel posts, other bots…)
    errors: int = 0  # handler errors, failed state writes and API errors outside updates
    rejected: int = 0  # webhook requests refused: wrong or missing secret (403)
    malformed: int = 0  # webhook requests whose body is not an update (400)
    reloads: int = 0  # knowledge base reloads that succeeded
    reload_failures: int = 0  # reloads refused because the new base fails its check

    def count_outcome(self, outcome: str) -> None:
        """Count one update and its outcome."""
        self.updates += 1
        if outcome in (ANSWERED, SUGGESTED, UNANSWERED, SKIPPED):
            setattr(self, outcome, getattr(self, outcome) + 1)


def without_paths(text: str) -> str:
    """`text` with the folders of absolute file paths taken out, leaving the file names."""
    return _ABSOLUTE_DIRS.sub("", text)


def is_local(request: web.Request) -> bool:
    """Whether a request comes straight from this machine (loopback, not through a proxy)."""
    if any(header in request.headers for header in FORWARDED_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0 < q < 1) of an ascending list, nearest rank, rounded to 0.01."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


class Health:
    """What /healthz reports: readiness, the knowledge base in service, counters and latency."""

    def __init__(self, engine: Callable[[], Engine], mode: str = "polling") -> None:
        self._engine = engine
        self.mode = mode
        self.counters = Counters()
        self.started = time.monotonic()
        self.ready_check: Callable[[], bool] = lambda: False
        self.stopping = False
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.last_reload_error: str | None = None
        self._latencies: list[float] = []
        self._next = 0

    def note_latency(self, ms: float) -> None:
        """Keep one update's latency in the sliding window."""
        if len(self._latencies) < LATENCY_WINDOW:
            self._latencies.append(ms)
        else:
            self._latencies[self._next] = ms
            self._next = (self._next + 1) % LATENCY_WINDOW

    def note_reload(self, error: str | None) -> None:
        """Count a reload; a refused one's problems are kept for the report."""
        if error is None:
            self.counters.reloads += 1
            self.loaded_at = dt.datetime.now(dt.UTC)
            self.last_reload_error = None
        else:
            self.counters.reload_failures += 1
            self.last_reload_error = without_paths(error)[:LAST_ERROR_CHARS]

    @property
    def ready(self) -> bool:
        """Whether updates are being received and handled right now."""
        return not self.stopping and self.ready_check()

    def latency(self) -> dict[str, float | None]:
        """p50 and p99 of the recent latencies, in milliseconds."""
        window = sorted(self._latencies)
        if not window:
            return {"p50_ms": None, "p99_ms": None, "window": 0}
        return {"p50_ms": percentile(window, 0.50), "p99_ms": percentile(window, 0.99),
                "window": len(window)}

    def report(self, local: bool = False) -> dict[str, Any]:
        """The /healthz document; a refused reload's problems only for a `local` request."""
        kb = self._engine().kb
        reload_error = self.last_reload_error
        if reload_error is not None and not local:
            reload_error = PUBLIC_RELOAD_ERROR
        status = STOPPING if self.stopping else OK if self.ready else STARTING
        return {
            "status": status,
            "ready": self.ready,
            "mode": self.mode,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "knowledge": {
                "version": kb.version,
                "entries": len(kb.entries),
                "digest": kb.digest,
                "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
                "last_reload_error": reload_error,
            },
            "counters": dataclasses.asdict(self.counters),
            "latency": self.latency(),
        }

    async def handle(self, request: web.Request) -> web.Response:
        """GET /healthz: the report as JSON; HTTP 200 when ready, 503 while starting or stopping."""
        report = self.report(local=is_local(request))
        return web.Response(
            text=json.dumps(report, ensure_ascii=False),
            status=STATUS_READY if report["ready"] else STATUS_NOT_READY,
            content_type="application/json",
        )
