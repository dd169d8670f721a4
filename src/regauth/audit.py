"""The audit trail: every token decision, kept in the database and queryable.

The token path only puts an :data:`AuditRow` (plain values) on a queue; the background writer
stores rows in batches (see :mod:`regauth.store.background`), so auditing never waits on the
database. Records are kept ``audit.retention_days`` days.

One event is one row: its scopes are kept inline as JSON, and the repository names again in a
space-delimited column for the repository filter (names never contain a space, since scopes are
space-separated). A second table of scopes cost two more rows and two more index entries per
token, which was most of what auditing cost the token path.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from regauth.store.audit_rows import (
    ACCOUNT_LENGTH,
    OUTCOMES,
    REASON_LENGTH,
    SERVICE_LENGTH,
    USER_AGENT_LENGTH,
    AuditRecord,
    AuditRow,
    ScopeRecord,
    clip,
    decode_scopes,
    encode_scopes,
    row_from_record,
)
from regauth.store.database import Database
from regauth.store.models import AuditEvent

__all__ = [
    "ACCOUNT_LENGTH",
    "MAX_OFFSET",
    "OUTCOMES",
    "REASON_LENGTH",
    "SERVICE_LENGTH",
    "USER_AGENT_LENGTH",
    "AuditFilter",
    "AuditRecord",
    "AuditRow",
    "ScopeRecord",
    "clip",
    "decode_scopes",
    "encode_scopes",
    "query_audit",
    "row_from_record",
]


#: the most events a query may skip
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class AuditFilter:
    account: str | None = None
    repository: str | None = None
    outcome: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    limit: int = 100
    #: events skipped first (paging: page N of size L has offset (N - 1) * L)
    offset: int = 0

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if not 1 <= self.limit <= 10000:
            raise ValueError("limit must be between 1 and 10000")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise ValueError(f"offset must be between 0 and {MAX_OFFSET}")


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _query(filters: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if filters.account is not None:
        query = query.where(AuditEvent.account == filters.account)
    if filters.outcome is not None:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    if filters.repository is not None:
        query = query.where(
            AuditEvent.repositories.contains(f" {filters.repository} ", autoescape=True)
        )
    return query.offset(filters.offset).limit(filters.limit)


def query_audit(database: Database, filters: AuditFilter) -> list[dict[str, Any]]:
    """Matching events, newest first, each with its scopes."""
    with database.read() as session:
        events = list(session.scalars(_query(filters)))
        return [
            {
                "at": _iso(e.at),
                "status": e.status,
                "outcome": e.outcome,
                "account": e.account,
                "method": e.method,
                "grant_type": e.grant_type,
                "service": e.service,
                "client_ip": e.client_ip,
                "user_agent": e.user_agent,
                "reason": e.reason,
                "latency_ms": e.latency_ms,
                "scopes": decode_scopes(e.scopes),
            }
            for e in events
        ]
