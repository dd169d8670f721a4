"""Reading registry events: one filter for the CLI, the admin API and the console.

Newest first, paged by an opaque cursor (the position after the last event of a page), so a
page stays stable while new events arrive. Every filter has an index: repository + time,
actor + time, digest, time.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select

from regauth.protocol.notifications import ACTIONS
from regauth.store.database import Database
from regauth.store.registry_events import RegistryEventRow

__all__ = ["MAX_LIMIT", "EventFilter", "EventPage", "event_dict", "iso", "query_events"]

MAX_LIMIT = 10_000
_CURSOR = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")


def iso(moment: datetime.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EventFilter:
    repository: str | None = None
    #: the token subject; "" for anonymous
    actor: str | None = None
    action: str | None = None
    digest: str | None = None
    tag: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    limit: int = 100
    #: ``next`` of the previous page
    cursor: str | None = None

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.cursor is not None:
            _position(self.cursor)


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    #: the cursor of the next page; None on the last one
    next: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "next": self.next}


def _position(cursor: str) -> tuple[datetime.datetime, int]:
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ValueError("cursor: not a cursor this server gave out")
    micros, row_id = int(match.group(1)), int(match.group(2))
    try:
        at = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            microseconds=micros
        )
    except OverflowError:
        raise ValueError("cursor: not a cursor this server gave out") from None
    return at, row_id


def _cursor(row: RegistryEventRow) -> str:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return f"{(row.at - epoch) // datetime.timedelta(microseconds=1)}.{row.id}"


def _query(filters: EventFilter) -> Select[RegistryEventRow]:
    table = RegistryEventRow
    query = select(table).order_by(table.at.desc(), table.id.desc())
    if filters.repository is not None:
        query = query.where(table.repository == filters.repository)
    if filters.actor is not None:
        query = query.where(
            table.actor.is_(None) if filters.actor == "" else table.actor == filters.actor
        )
    if filters.action is not None:
        query = query.where(table.action == filters.action)
    if filters.digest is not None:
        query = query.where(table.digest == filters.digest)
    if filters.tag is not None:
        query = query.where(table.tag == filters.tag)
    if filters.since is not None:
        query = query.where(table.at >= filters.since)
    if filters.until is not None:
        query = query.where(table.at < filters.until)
    if filters.cursor is not None:
        at, row_id = _position(filters.cursor)
        query = query.where(or_(table.at < at, and_(table.at == at, table.id < row_id)))
    return query.limit(filters.limit + 1)


def event_dict(row: RegistryEventRow) -> dict[str, Any]:
    return {
        "id": row.event_id,
        "at": iso(row.at),
        "action": row.action,
        "repository": row.repository,
        "tag": row.tag,
        "digest": row.digest,
        "media_type": row.media_type,
        "size": row.size,
        "from_repository": row.from_repository,
        "actor": row.actor,
        "client_addr": row.client_addr,
        "user_agent": row.user_agent,
        "source": row.source,
        "instance_id": row.instance_id,
    }


def query_events(database: Database, filters: EventFilter) -> EventPage:
    """Matching events, newest first, and the cursor of the next page."""
    with database.read() as session:
        rows = list(session.scalars(_query(filters)))
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return EventPage([event_dict(r) for r in rows], _cursor(rows[-1]) if more else None)
