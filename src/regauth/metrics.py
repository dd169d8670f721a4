"""Prometheus metrics: what the token endpoint, the authentication backends and the audit
writer did, summed over every worker process.

With ``regauth serve`` each worker writes its values to memory-mapped files in a directory
the server process creates (prometheus_client's multiprocess mode, switched on by
``PROMETHEUS_MULTIPROC_DIR``); ``GET /metrics`` on any worker reads them all. In a single
process without that variable (tests, an embedded app) the values live in the process.

Recording costs the request one counter increment and one histogram observation on
pre-resolved series (about 3 microseconds); no label ever carries an account name, a
repository or anything secret, only outcomes and authentication methods (a fixed set).
"""

from __future__ import annotations

import os
import shutil
import tempfile
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


class TokenCounter:
    """One series of ``regauth_token_requests_total``, resolved once (a remembered grant
    keeps its own), and the latency histogram beside it."""

    __slots__ = ("_count", "_observe")

    def __init__(self, count: Any, latency: Any) -> None:
        self._count = count.inc
        self._observe = latency.observe

    def record(self, latency: float) -> None:
        self._count()
        self._observe(latency)


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
            "Token requests answered, by outcome (granted, partial, denied, rejected), "
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

    def token_counter(self, outcome: str, method: str | None, *, reused: bool) -> TokenCounter:
        label = method if method in METHODS else ("none" if method is None else "other")
        series = self._requests.labels(outcome, label, "true" if reused else "false")
        return TokenCounter(series, self._latency)

    def backend_error(self, backend: str) -> None:
        self._backend_errors.labels(backend if backend in METHODS else "other").inc()

    def audit_flushed(self, written: int, dropped: int) -> None:
        if written:
            self._audit_written.inc(written)
        if dropped:
            self._audit_dropped.inc(dropped)

    def render(self) -> tuple[bytes, str]:
        """The exposition of every worker's values, and its content type."""
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
