"""The audit trail's rows: what one token decision stores, in the order of the table's columns.

The token path builds an :data:`AuditRow` (plain values) and hands it to the background writer
(:mod:`regauth.store.background`); :mod:`regauth.audit` reads rows back. One event is one row:
its scopes are kept inline as JSON, and the repository names again in a space-delimited column
for the repository filter (names never contain a space, since scopes are space-separated).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "ACCOUNT_LENGTH",
    "OUTCOMES",
    "REASON_LENGTH",
    "SERVICE_LENGTH",
    "USER_AGENT_LENGTH",
    "AuditRecord",
    "AuditRow",
    "ScopeRecord",
    "clip",
    "decode_scopes",
    "encode_scopes",
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
