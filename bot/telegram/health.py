"""Counters of what the bot did and the GET /healthz report built from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import ipaddress
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..engine import Engine

HEALTH_PATH = "/healthz"
# The "status" field of the report. Degraded: answering, but something is failing that an
# operator should see (analytics writes failing, e.g. disk full; a damaged file set aside).
OK, DEGRADED, STARTING, STOPPING = "ok", "degraded", "starting", "stopping"
STATUS_READY, STATUS_NOT_READY = 200, 503  # a load balancer or HEALTHCHECK reads the HTTP status
LAST_ERROR_CHARS = 2000  # a refused reload's problems are kept for /healthz up to this length
LATENCY_WINDOW = 1000  # latencies of the last this many updates give the p50/p99 on /healthz
# /healthz may be reachable from anywhere (the webhook listens on 0.0.0.0): the details (counters,
# knowledge digest, problems) go only to requests from this machine that no proxy forwarded, or
# that carry HEALTH_TOKEN as "Authorization: Bearer <token>"; others read {"status": ...} only.
# A refused reload's problems are shown in full only to local requests; token holders read this.
PUBLIC_RELOAD_ERROR = "reload failed"
FORWARDED_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")  # set by reverse proxies
BEARER = "bearer"  # the Authorization scheme, compared without case
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
    connections_evicted: int = 0  # idle or stalled connections closed to make room for new ones
    connections_refused: int = 0  # connections turned away: too many open and busy (503)
    slow_requests: int = 0  # requests whose body did not arrive in time (408)
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


def has_token(request: web.Request, token: str | None) -> bool:
    """Whether the request carries `token` as "Authorization: Bearer <token>" (never without one)."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != BEARER:
        return False
    # A header that is not ASCII is kept by aiohttp as surrogate escapes: compare bytes.
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"),
                               token.encode("utf-8"))


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0 < q < 1) of an ascending list, nearest rank, rounded to 0.01."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


class Health:
    """What /healthz reports: readiness, the knowledge base in service, counters and latency."""

    def __init__(self, engine: Callable[[], Engine], mode: str = "polling",
                 token: str | None = None) -> None:
        self._engine = engine
        self.mode = mode
        self.token = token  # HEALTH_TOKEN: lets a request from elsewhere read the details
        self._checks: dict[str, Callable[[], str | None]] = {}
        self._problems: dict[str, str] = {}
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

    def watch(self, name: str, check: Callable[[], str | None]) -> None:
        """Ask `check` at each report: a text (what is wrong) makes the status "degraded"."""
        self._checks[name] = check

    def note_problem(self, name: str, problem: str | None) -> None:
        """Report a lasting problem under `name` (None clears it): the status becomes "degraded"."""
        if problem is None:
            self._problems.pop(name, None)
        else:
            self._problems[name] = without_paths(problem)[:LAST_ERROR_CHARS]

    def problems(self) -> dict[str, str]:
        """What is degraded now, by name (empty when all is well)."""
        found = dict(self._problems)
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001 - a failing check is itself a problem
                problem = f"check failed: {type(exc).__name__}"
            if problem:
                found[name] = without_paths(problem)[:LAST_ERROR_CHARS]
        return found

    def status(self, problems: dict[str, str] | None = None) -> str:
        """starting, ok, degraded (ready, but something is failing) or stopping."""
        if self.stopping:
            return STOPPING
        if not self.ready:
            return STARTING
        return DEGRADED if (self.problems() if problems is None else problems) else OK

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
        problems = self.problems()
        return {
            "status": self.status(problems),
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
            "problems": problems,
        }

    async def handle(self, request: web.Request) -> web.Response:
        """GET /healthz: HTTP 200 when ready (ok or degraded), 503 while starting or stopping.

        The whole report for a local request or one with the health token; {"status": ...} for
        any other.
        """
        local = is_local(request)
        if local or has_token(request, self.token):
            report = self.report(local=local)
        else:
            report = {"status": self.status()}
        return web.Response(
            text=json.dumps(report, ensure_ascii=False),
            status=STATUS_READY if self.ready else STATUS_NOT_READY,
            content_type="application/json",
        )
