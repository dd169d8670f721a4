"""The background writer: batches audit records and last-use times into few transactions.

The token path calls :meth:`BackgroundWriter.audit` and :meth:`BackgroundWriter.touch`, which
only append to an in-memory queue. A thread writes the queue: at once when records arrive at
an idle server, and under load at most once every ``interval`` seconds, so that a busy server
writes few large transactions (each transaction rewrites the pages it touches, the last, part
filled pages of the table and its indexes among them: small frequent batches cost several
times as much per record). It also writes last-use times every second, prunes audit records
past their retention and the guessing limits' counters that no longer count or block once an
hour, and flushes what is left when the process stops. If the
queue overflows (the database is down for long), the oldest records are dropped (the queue is
bounded), never the token path blocked.
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from regauth.clock import utcnow
from regauth.store.audit_rows import AuditRecord, AuditRow, row_from_record
from regauth.store.database import Database
from regauth.store.login_failures import expire_login_failures
from regauth.store.models import (
    AuditEvent,
    ChangeLog,
    PersonalAccessToken,
    RefreshToken,
    Robot,
)
from regauth.timestamps import PerSecondFormat

__all__ = ["BackgroundWriter"]

log = structlog.get_logger("regauth.store")

_TOUCHABLE: dict[str, type[PersonalAccessToken] | type[Robot] | type[RefreshToken]] = {
    "token": PersonalAccessToken,
    "robot": Robot,
    "refresh_token": RefreshToken,
}
MAX_QUEUE = 100_000
#: how often the writer looks for last-use times and pruning when no audit record wakes it
IDLE_WAKE_SECONDS = 1.0
CHANGE_LOG_RETENTION = datetime.timedelta(days=1)


_EVENT_COLUMNS = (
    "at, client_ip, user_agent, account, method, grant_type, service, status, outcome, "
    "reason, latency_ms, scopes, repositories"
)
#: the largest multi-row INSERT: a VALUES list of many rows is one step for the database
#: driver, so the writer thread gives up and takes back the GIL once per statement instead of
#: once per row (which, under load, stalled the request thread behind thousands of GIL
#: handoffs). Batches are cut into power-of-two statements, so a handful of statement texts
#: cover every batch size and stay in the drivers' prepared-statement caches.
MAX_ROWS_PER_STATEMENT = 128


def _multirow_insert(table: str, columns: str, width: int, rows: int, mark: str) -> str:
    row = "(" + ", ".join([mark] * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * rows)  # noqa: S608


def _chunk_sizes(count: int) -> list[int]:
    """``count`` as full statements of the largest size, then powers of two: 300 is
    128 + 128 + 32 + 8 + 4."""
    sizes = [MAX_ROWS_PER_STATEMENT] * (count // MAX_ROWS_PER_STATEMENT)
    rest = count % MAX_ROWS_PER_STATEMENT
    size = MAX_ROWS_PER_STATEMENT // 2
    while rest:
        if rest >= size:
            sizes.append(size)
            rest -= size
        size //= 2
    return sizes


def _insert_rows(
    connection: Connection, table: str, columns: str, rows: list[tuple[Any, ...]], mark: str
) -> None:
    """Insert ``rows`` with a few multi-row statements; every value is a bound parameter."""
    if not rows:
        return
    width = len(rows[0])
    start = 0
    for size in _chunk_sizes(len(rows)):
        chunk = rows[start : start + size]
        start += size
        statement = _multirow_insert(table, columns, width, size, mark)
        connection.exec_driver_sql(statement, tuple(itertools.chain.from_iterable(chunk)))


def _utc_time(at: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(at, datetime.UTC)


class BackgroundWriter:
    def __init__(
        self,
        database: Database,
        *,
        interval: float = 1.0,
        batch_size: int = 500,
        retention: datetime.timedelta | None = datetime.timedelta(days=90),
        audit_enabled: bool = True,
        forget_failures_after: datetime.timedelta | None = None,
    ) -> None:
        self._db = database
        self._interval = interval
        self._batch_size = batch_size
        self._retention = retention
        #: the guessing limits' ``brute_force.forget_after`` (None: their counters stay)
        self._forget_failures_after = forget_failures_after
        self._audit_enabled = audit_enabled
        self._records: deque[AuditRow] = deque(maxlen=MAX_QUEUE)
        #: SQLAlchemy's storage of DateTime: text on SQLite, datetime objects elsewhere
        self._stored_time: Callable[[float], Any] = (
            PerSecondFormat("%Y-%m-%d %H:%M:%S.") if database.is_sqlite else _utc_time
        )
        self._touches: dict[tuple[str, int], datetime.datetime] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0
        self.written = 0
        #: records pushed out of the full queue: by new records (counted on the event loop), by
        #: records put back after a failed write (counted by the writer thread)
        self._dropped_by_requests = 0
        self._dropped_by_writer = 0
        self._dropped_reported = 0
        #: called by the writer thread after each flush with the records stored and dropped
        #: since the last call (metrics)
        self.on_flush: Callable[[int, int], None] | None = None

    # called from the event loop: no I/O, no waiting
    def audit(self, record: AuditRecord | AuditRow) -> None:
        """Queue a record as the values of its row, its time already in the stored form, so
        the writer thread only hands rows to the database (a bounded deque drops the
        oldest). Building them here costs the request about what building the plain row did,
        and keeps the writer from holding the interpreter while it builds thousands."""
        if self._audit_enabled:
            row = row_from_record(record) if isinstance(record, AuditRecord) else record
            records = self._records
            queued = len(records)
            if queued == MAX_QUEUE:
                self._dropped_by_requests += 1  # the append below pushes out the oldest
            records.append((self._stored_time(row[0]), *row[1:]))
            if not queued:
                self._wake.set()  # the first since the last write: wake the writer

    def touch(self, kind: str, row_id: int) -> None:
        with self._lock:
            self._touches[(kind, row_id)] = utcnow()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="regauth-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            written = self.written
            self.flush()
            self._report(self.written - written)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(IDLE_WAKE_SECONDS)
            self._wake.clear()
            started = time.monotonic()
            self._flush_logging_errors()
            self._maybe_prune()
            # under load records keep coming: gather them for the rest of the interval
            self._stop.wait(self._interval - (time.monotonic() - started))
        self._flush_logging_errors()

    def _flush_logging_errors(self) -> None:
        written = self.written
        try:
            self.flush()
        except Exception as exc:  # the database may be down: keep the records, try later
            log.error("audit/last-use write failed, will retry", error=str(exc)[:300])
        self._report(self.written - written)

    def _report(self, written: int) -> None:
        report = self.on_flush
        if report is not None:
            dropped = self._dropped_by_requests + self._dropped_by_writer
            report(written, dropped - self._dropped_reported)
            self._dropped_reported = dropped

    def flush(self) -> None:
        pending = self._records
        rows: list[AuditRow] = []
        while True:
            try:
                rows.append(pending.popleft())
            except IndexError:
                break
        with self._lock:
            touches = self._touches
            self._touches = {}
        if not rows and not touches:
            return
        try:
            with self._db.write() as session:
                connection = session.connection()
                for start in range(0, len(rows), self._batch_size):
                    self._insert(connection, rows[start : start + self._batch_size])
                for (kind, row_id), at in touches.items():
                    model = _TOUCHABLE[kind]
                    session.execute(update(model).where(model.id == row_id).values(last_used_at=at))
        except Exception:
            with self._lock:  # put them back, oldest first, within the bound
                self._dropped_by_writer += max(0, len(self._records) + len(rows) - MAX_QUEUE)
                self._records.extendleft(reversed(rows))
                for key, at in touches.items():
                    self._touches.setdefault(key, at)
            raise
        self.written += len(rows)

    @staticmethod
    def _insert(connection: Connection, rows: list[AuditRow]) -> None:
        """Multi-row INSERTs straight to the driver: the audit trail is the one table written
        at the request rate, and the ORM's per-row work would cost more than the token."""
        sqlite = connection.dialect.name == "sqlite"
        _insert_rows(connection, "audit_events", _EVENT_COLUMNS, rows, "?" if sqlite else "%s")

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < 3600:
            return
        self._pruned_at = now
        try:
            self.prune(utcnow())
        except Exception as exc:
            log.error("pruning old audit records failed", error=str(exc)[:300])

    def prune(self, now: datetime.datetime) -> None:
        """Delete audit records past their retention, old change-log entries, and failed-login
        counters with no failure for ``forget_failures_after`` that block nothing."""
        with self._db.write() as session:
            if self._retention is not None:
                session.execute(delete(AuditEvent).where(AuditEvent.at < now - self._retention))
            session.execute(delete(ChangeLog).where(ChangeLog.at < now - CHANGE_LOG_RETENTION))
            if self._forget_failures_after is not None:
                expire_login_failures(session, self._forget_failures_after, now)
