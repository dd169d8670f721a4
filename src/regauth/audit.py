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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Select, select

from regauth.store.database import Database
from regauth.store.models import AuditEvent

__all__ = [
    "OUTCOMES",
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

OUTCOMES = ("granted", "partial", "denied", "rejected", "throttled")


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


#: an audit record as plain values in the order of the table's columns, cheap to make on the
#: request path and to hand to another thread: (unix time, client address, user agent, account,
#: method, grant type, service, status, outcome, reason, latency in ms, scopes as stored,
#: repository names as stored). The last two come from :func:`encode_scopes` (a remembered
#: grant encodes its scopes once, not per token); texts are already clipped to their columns
#: (:func:`clip`).
AuditRow = tuple[Any, ...]

#: the longest text each audit column keeps
USER_AGENT_LENGTH = 256
ACCOUNT_LENGTH = 256
SERVICE_LENGTH = 256
REASON_LENGTH = 500


def clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def encode_scopes(scopes: Sequence[Sequence[Any]]) -> tuple[str, str | None]:
    """The stored form of an event's scopes: ``(JSON list, " name name ")``, the names None
    when there are no scopes.

    Each scope is ``[type, name, requested, granted, decided by]`` with the actions
    comma-separated, clipped to the lengths the table had when scopes had one."""
    clipped = [
        (kind[:64], name[:255], requested[:128], granted[:128], rule[:256] if rule else rule)
        for kind, name, requested, granted, rule in scopes
    ]
    names = " ".join(dict.fromkeys(scope[1] for scope in clipped))
    return orjson.dumps(clipped).decode(), f" {names} " if names else None


def row_from_record(record: AuditRecord) -> AuditRow:
    scopes, names = encode_scopes(
        [(s.type, s.name, s.requested, s.granted, s.decided_by) for s in record.scopes]
    )
    return (
        record.at.timestamp(),
        record.client_ip,
        clip(record.user_agent, USER_AGENT_LENGTH),
        clip(record.account, ACCOUNT_LENGTH),
        record.method,
        record.grant_type,
        clip(record.service, SERVICE_LENGTH),
        record.status,
        record.outcome,
        clip(record.reason, REASON_LENGTH),
        record.latency_ms,
        scopes,
        names,
    )


def decode_scopes(stored: str | None) -> list[dict[str, Any]]:
    if not stored:
        return []
    return [
        {
            "type": kind,
            "name": name,
            "requested": requested.split(",") if requested else [],
            "granted": granted.split(",") if granted else [],
            "decided_by": rule,
        }
        for kind, name, requested, granted, rule in orjson.loads(stored)
    ]


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
            AuditEvent.repositories.contains(f" {filters.repository} ", autoescape=True)
        )
    return query.limit(filters.limit)


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
