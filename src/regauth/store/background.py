"""The background writer: batches audit records and last-use times into few transactions.

The token path calls :meth:`BackgroundWriter.audit` and :meth:`BackgroundWriter.touch`, which
only append to an in-memory queue. A thread writes the queue every ``interval`` seconds (or
sooner when it grows), prunes audit records past their retention once an hour, and flushes
what is left when the process stops. If the queue overflows (the database is down for long),
the oldest records are dropped (the queue is bounded), never the token path blocked.
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections import deque
from typing import Any

import structlog
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from regauth.audit import AuditRecord, AuditRow, record_from_row
from regauth.store.database import Database
from regauth.store.models import (
    AuditEvent,
    ChangeLog,
    PersonalAccessToken,
    RefreshToken,
    Robot,
    utcnow,
)

__all__ = ["BackgroundWriter"]

log = structlog.get_logger("regauth.store")

_TOUCHABLE: dict[str, type[PersonalAccessToken] | type[Robot] | type[RefreshToken]] = {
    "token": PersonalAccessToken,
    "robot": Robot,
    "refresh_token": RefreshToken,
}
MAX_QUEUE = 100_000
CHANGE_LOG_RETENTION = datetime.timedelta(days=1)


_EVENT_COLUMNS = (
    "id, at, client_ip, user_agent, account, method, grant_type, service, status, outcome, "
    "reason, latency_ms"
)
_SCOPE_COLUMNS = "event_id, type, name, requested, granted, decided_by"
#: rows per INSERT statement: a multi-row VALUES list is one step for the database driver, so
#: the writer thread gives up and takes back the GIL once per chunk instead of once per row
#: (which, under load, stalled the request thread behind thousands of GIL handoffs)
ROWS_PER_STATEMENT = 200


def _multirow_insert(table: str, columns: str, width: int, rows: int, mark: str) -> str:
    row = "(" + ", ".join([mark] * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * rows)  # noqa: S608


def _insert_rows(
    connection: Any, table: str, columns: str, rows: list[tuple[Any, ...]], mark: str
) -> None:
    """Insert ``rows`` with a few multi-row statements; every value is a bound parameter."""
    if not rows:
        return
    width = len(rows[0])
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        statement = _multirow_insert(table, columns, width, len(chunk), mark)
        connection.exec_driver_sql(statement, tuple(itertools.chain.from_iterable(chunk)))


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


class BackgroundWriter:
    def __init__(
        self,
        database: Database,
        *,
        interval: float = 1.0,
        batch_size: int = 500,
        retention: datetime.timedelta | None = datetime.timedelta(days=90),
        audit_enabled: bool = True,
    ) -> None:
        self._db = database
        self._interval = interval
        self._batch_size = batch_size
        self._retention = retention
        self._audit_enabled = audit_enabled
        self._records: deque[AuditRecord | AuditRow] = deque(maxlen=MAX_QUEUE)
        self._touches: dict[tuple[str, int], datetime.datetime] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0
        self.written = 0

    # called from the event loop: no I/O, no waiting
    def audit(self, record: AuditRecord | AuditRow) -> None:
        """Queue a record, or its plain row (the writer thread builds the record), so the
        request pays for little more than an append (a bounded deque drops the oldest)."""
        if self._audit_enabled:
            self._records.append(record)

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
            self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self._flush_logging_errors()
            self._maybe_prune()
        self._flush_logging_errors()

    def _flush_logging_errors(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the database may be down: keep the records, try later
            log.error("audit/last-use write failed, will retry", error=str(exc)[:300])

    def flush(self) -> None:
        pending = self._records
        records: list[AuditRecord] = []
        while True:
            try:
                item = pending.popleft()
            except IndexError:
                break
            records.append(item if isinstance(item, AuditRecord) else record_from_row(item))
        with self._lock:
            touches = self._touches
            self._touches = {}
        if not records and not touches:
            return
        try:
            with self._db.write() as session:
                for start in range(0, len(records), self._batch_size):
                    self._insert(session, records[start : start + self._batch_size])
                for (kind, row_id), at in touches.items():
                    model = _TOUCHABLE[kind]
                    session.execute(update(model).where(model.id == row_id).values(last_used_at=at))
        except Exception:
            with self._lock:  # put them back, oldest first, within the bound
                self._records.extendleft(reversed(records))
                for key, at in touches.items():
                    self._touches.setdefault(key, at)
            raise
        self.written += len(records)

    @staticmethod
    def _allocate_ids(session: Session, count: int) -> list[int]:
        """Ids for a batch, so events and their scopes go in with two plain executemany calls
        (no RETURNING round trip per row)."""
        if session.get_bind().dialect.name == "sqlite":
            # inside BEGIN IMMEDIATE this process is the only writer
            start = int(session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)
            return list(range(start + 1, start + count + 1))
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"count": count},
        )
        return [int(row[0]) for row in rows]

    @classmethod
    def _insert(cls, session: Session, records: list[AuditRecord]) -> None:
        """Multi-row INSERTs straight to the driver: the audit trail is the one table written
        at the request rate, and the ORM's per-row work would cost more than the token."""
        if not records:
            return
        ids = cls._allocate_ids(session, len(records))
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"

        def moment(value: datetime.datetime) -> Any:
            utc = value if value.tzinfo is datetime.UTC else value.astimezone(datetime.UTC)
            # SQLAlchemy's SQLite format: "YYYY-MM-DD HH:MM:SS[.ffffff]", UTC without offset
            return str(utc.replace(tzinfo=None)) if sqlite else utc

        events = [
            (
                event_id,
                moment(r.at),
                r.client_ip,
                _clip(r.user_agent, 256),
                _clip(r.account, 256),
                r.method,
                r.grant_type,
                _clip(r.service, 256),
                r.status,
                r.outcome,
                _clip(r.reason, 500),
                r.latency_ms,
            )
            for event_id, r in zip(ids, records, strict=True)
        ]
        _insert_rows(connection, "audit_events", _EVENT_COLUMNS, events, mark)
        scopes = [
            (event_id, s.type, s.name, s.requested[:128], s.granted[:128], _clip(s.decided_by, 256))
            for event_id, record in zip(ids, records, strict=True)
            for s in record.scopes
        ]
        _insert_rows(connection, "audit_scopes", _SCOPE_COLUMNS, scopes, mark)

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < 3600:
            return
        self._pruned_at = now
        try:
            with self._db.write() as session:
                if self._retention is not None:
                    session.execute(
                        delete(AuditEvent).where(AuditEvent.at < utcnow() - self._retention)
                    )
                session.execute(
                    delete(ChangeLog).where(ChangeLog.at < utcnow() - CHANGE_LOG_RETENTION)
                )
        except Exception as exc:
            log.error("pruning old audit records failed", error=str(exc)[:300])
