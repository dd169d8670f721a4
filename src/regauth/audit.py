"""The audit trail: every token decision, kept in the database and queryable.

The token path only puts an :class:`AuditRecord` on a queue; the background writer stores
records in batches (see :mod:`regauth.store.background`), so auditing never waits on the
database. Records are kept ``audit.retention_days`` days.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select

from regauth.store.database import Database
from regauth.store.models import AuditEvent, AuditScope

__all__ = [
    "OUTCOMES",
    "AuditFilter",
    "AuditRecord",
    "AuditRow",
    "ScopeRecord",
    "query_audit",
    "record_from_row",
]

OUTCOMES = ("granted", "partial", "denied", "rejected")


@dataclass(frozen=True, slots=True)
class ScopeRecord:
    type: str
    name: str
    requested: str
    granted: str
    decided_by: str | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime.datetime
    status: int
    outcome: str
    account: str | None
    method: str | None
    grant_type: str | None
    service: str | None
    client_ip: str | None
    user_agent: str | None
    reason: str | None
    latency_ms: float | None
    scopes: Sequence[ScopeRecord] = field(default_factory=tuple)


#: an audit record as plain values, cheap to make on the request path and to hand to another
#: process: (unix time, status, outcome, account, method, grant type, service, client address,
#: user agent, reason, latency in ms, [(type, name, requested, granted, decided by), ...])
AuditRow = tuple[Any, ...]


def record_from_row(row: Sequence[Any]) -> AuditRecord:
    at, status, outcome, account, method, grant_type, service, ip, agent, reason, ms, scopes = row
    return AuditRecord(
        at=datetime.datetime.fromtimestamp(at, datetime.UTC),
        status=status,
        outcome=outcome,
        account=account,
        method=method,
        grant_type=grant_type,
        service=service,
        client_ip=ip,
        user_agent=agent,
        reason=reason,
        latency_ms=ms,
        scopes=[ScopeRecord(*scope) for scope in scopes],
    )


@dataclass(frozen=True)
class AuditFilter:
    account: str | None = None
    repository: str | None = None
    outcome: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if not 1 <= self.limit <= 10000:
            raise ValueError("limit must be between 1 and 10000")


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
            AuditEvent.id.in_(
                select(AuditScope.event_id).where(AuditScope.name == filters.repository)
            )
        )
    return query.limit(filters.limit)


def query_audit(database: Database, filters: AuditFilter) -> list[dict[str, Any]]:
    """Matching events, newest first, each with its scopes."""
    with database.read() as session:
        events = list(session.scalars(_query(filters)))
        scopes: dict[int, list[dict[str, Any]]] = {}
        if events:
            rows = session.scalars(
                select(AuditScope)
                .where(AuditScope.event_id.in_([e.id for e in events]))
                .order_by(AuditScope.id)
            )
            for row in rows:
                scopes.setdefault(row.event_id, []).append(
                    {
                        "type": row.type,
                        "name": row.name,
                        "requested": row.requested.split(",") if row.requested else [],
                        "granted": row.granted.split(",") if row.granted else [],
                        "decided_by": row.decided_by,
                    }
                )
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
                "scopes": scopes.get(e.id, []),
            }
            for e in events
        ]
