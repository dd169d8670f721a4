"""Prometheus metrics: what the token endpoint, the authentication backends and the audit
writer did, summed over every worker process.

With ``regauth serve`` each worker writes its values to memory-mapped files in a directory
the server process creates (prometheus_client's multiprocess mode, switched on by
``PROMETHEUS_MULTIPROC_DIR``); ``GET /metrics`` on any worker reads them all. In a single
process without that variable (tests, an embedded app) the values live in the process.

A request only adds to plain numbers of its series (a count, a sum, a bucket); they reach
prometheus_client at most :data:`FLUSH_SECONDS` later, on the event loop, and before every
scrape and shutdown. Each update there is a lock, a ``getpid`` and a write to the mapped file,
three of them per request if done one by one. Registry notifications (a few per push) are
counted as they come. No label ever carries an account name, a
repository or anything secret, only outcomes and authentication methods (a fixed set).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "MULTIPROCESS_ENV",
    "Metrics",
    "TokenCounter",
    "prepare_multiprocess_directory",
    "remove_multiprocess_directory",
]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the longest a recorded request waits to reach the metrics files
FLUSH_SECONDS = 0.1
#: seconds; the cold path verifies a password hash (tens to hundreds of milliseconds)
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
#: the authentication methods a label may name; anything else is counted as "other"
METHODS = frozenset(
    {"anonymous", "static", "htpasswd", "database", "ldap", "idp_token", "refresh_token"}
)

#: the labels of the registry events' counters (a fixed set: nothing a client chose)
EVENT_ACTIONS = frozenset({"push", "pull", "delete", "mount"})
REJECTIONS = frozenset(
    {"unauthorized", "malformed", "too_large", "unsupported_media_type", "unavailable"}
)


class TokenCounter:
    """One series of ``regauth_token_requests_total`` with the latency histogram beside it,
    resolved once (a remembered grant keeps its own), and what was recorded on it since the
    last flush."""

    __slots__ = ("_buckets", "_metrics", "_series", "count", "latency_sum")

    def __init__(self, metrics: Metrics, series: Any) -> None:
        self._metrics = metrics
        self._series = series
        self.count = 0
        self.latency_sum = 0.0
        #: requests per latency bucket (the last one: above every bound)
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def record(self, latency: float) -> None:
        first = not self.count
        self.count += 1
        self.latency_sum += latency
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
        if first:
            self._metrics.pending(self)

    def flush(self, histogram: Any) -> None:
        """Hand what was recorded to prometheus_client, one update per number."""
        self._series.inc(self.count)
        sums, buckets = getattr(histogram, "_sum", None), getattr(histogram, "_buckets", None)
        if sums is None or buckets is None or len(buckets) != len(self._buckets):
            # prometheus_client keeps a histogram's values elsewhere: the public way
            for index, count in enumerate(self._buckets):
                bound = LATENCY_BUCKETS[index] if index < len(LATENCY_BUCKETS) else 1e9
                for _ in range(count):
                    histogram.observe(bound)
        else:
            sums.inc(self.latency_sum)
            for index, count in enumerate(self._buckets):
                if count:
                    buckets[index].inc(count)
        self.count = 0
        self.latency_sum = 0.0
        self._buckets = [0] * len(self._buckets)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        # in multiprocess mode the values go to the shared files whatever the registry; the
        # exposition then reads the files, not this registry
        registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self._registry = registry
        self._requests = Counter(
            "regauth_token_requests",
            "Token requests answered, by outcome (granted, partial, denied, rejected, throttled), "
            "authentication method, and whether a remembered grant answered it",
            ["outcome", "method", "reused"],
            registry=registry,
        )
        self._latency = Histogram(
            "regauth_token_request_duration_seconds",
            "Time from a token request's arrival to its answer being ready",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._backend_errors = Counter(
            "regauth_authentication_backend_errors",
            "Authentication backends that could not answer (a directory or database down)",
            ["backend"],
            registry=registry,
        )
        self._refusals = Counter(
            "regauth_login_refusals",
            "Logins refused before any password check: throttled (the guessing limits) or "
            "overloaded (the password-check queue was full)",
            ["reason"],
            registry=registry,
        )
        self._lockouts = Counter(
            "regauth_account_lockouts",
            "Account lockouts started by the guessing limits",
            registry=registry,
        )
        self._audit_written = Counter(
            "regauth_audit_records_written",
            "Audit records stored",
            registry=registry,
        )
        self._audit_dropped = Counter(
            "regauth_audit_records_dropped",
            "Audit records dropped because the queue overflowed (the database was away)",
            registry=registry,
        )
        self._registry_events = Counter(
            "regauth_registry_events",
            "Registry events in notifications, by result (received; then stored, duplicate: "
            "already stored, or skipped: not kept by events.record_pulls) and action",
            ["result", "action"],
            registry=registry,
        )
        self._registry_rejected = Counter(
            "regauth_registry_notifications_rejected",
            "Registry notifications refused whole, by reason (unauthorized, malformed, "
            "too_large, unsupported_media_type, unavailable)",
            ["reason"],
            registry=registry,
        )

        self._pending: list[TokenCounter] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._counters: dict[tuple[str, str, bool], TokenCounter] = {}

    def token_counter(self, outcome: str, method: str | None, *, reused: bool) -> TokenCounter:
        """The series for these labels, made once (there are a few dozen at most)."""
        label = method if method in METHODS else ("none" if method is None else "other")
        key = (outcome, label, reused)
        counter = self._counters.get(key)
        if counter is None:
            series = self._requests.labels(outcome, label, "true" if reused else "false")
            counter = self._counters[key] = TokenCounter(self, series)
        return counter

    def pending(self, counter: TokenCounter) -> None:
        """A series has new records: flush them soon (called once until they are flushed)."""
        self._pending.append(counter)
        if self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside an event loop: at once
                self.flush()
                return
            self._flush_timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Hand every recorded request to prometheus_client (on the event loop's thread)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        pending, self._pending = self._pending, []
        for counter in pending:
            counter.flush(self._latency)

    def backend_error(self, backend: str) -> None:
        self._backend_errors.labels(backend if backend in METHODS else "other").inc()

    def login_refused(self, reason: str) -> None:
        self._refusals.labels(reason if reason in ("throttled", "overloaded") else "other").inc()

    def account_locked(self, _account: str) -> None:
        """An account lockout started (the account name is not a label: never in metrics)."""
        self._lockouts.inc()

    def audit_flushed(self, written: int, dropped: int) -> None:
        if written:
            self._audit_written.inc(written)
        if dropped:
            self._audit_dropped.inc(dropped)

    def registry_events(self, result: str, actions: Mapping[str, int]) -> None:
        """Events of one notification with this result, counted by action."""
        for action, count in actions.items():
            if count:
                label = action if action in EVENT_ACTIONS else "other"
                self._registry_events.labels(result, label).inc(count)

    def registry_notification_rejected(self, reason: str) -> None:
        self._registry_rejected.labels(reason if reason in REJECTIONS else "other").inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition of every worker's values, and its content type (call
        :meth:`flush` first, on the event loop, for this worker's latest requests)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry: CollectorRegistry | None = self._registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST


def prepare_multiprocess_directory() -> Path:
    """A fresh directory for the workers' metric files, named in the environment the workers
    inherit (call before they start, and before prometheus_client is imported here)."""
    directory = Path(tempfile.mkdtemp(prefix="regauth-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


def remove_multiprocess_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
