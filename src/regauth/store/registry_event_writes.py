"""Storing a batch of registry events and updating the repository index, in the caller's
transaction.

Events are inserted with ``ON CONFLICT (event_id) DO NOTHING ... RETURNING event_id`` (SQLite
3.35+ and PostgreSQL both speak it), so a redelivered event is skipped even when two instances
receive it at once, and only the events really inserted move the index: the counters and last
times of ``registry_repositories`` and the tags of ``registry_tags``. The index only moves
forward in time: a late redelivery of an older push does not overwrite a newer tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from regauth.protocol.notifications import RegistryEvent
from regauth.store.registry_events import RegistryEventRow, RegistryRepository, RegistryTag

__all__ = ["StoreResult", "store_events"]

_EVENTS = RegistryEventRow.__table__
_REPOSITORIES = RegistryRepository.__table__
_TAGS = RegistryTag.__table__


@dataclass
class StoreResult:
    """The events inserted by this batch, and how many were already stored."""

    stored: list[RegistryEvent] = field(default_factory=list)
    duplicates: int = 0


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _row(event: RegistryEvent) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "at": event.at,
        "action": event.action,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": event.media_type,
        "size": event.size,
        "from_repository": event.from_repository,
        "actor": event.actor,
        "client_addr": event.client_addr,
        "user_agent": event.user_agent,
        "source": event.source,
        "instance_id": event.instance_id,
    }


def store_events(session: Session, events: Sequence[RegistryEvent]) -> StoreResult:
    """Insert ``events`` (skipping ids already stored) and update the index from the new ones."""
    result = StoreResult()
    if not events:
        return result
    insert = _insert(session)
    statement = (
        insert(_EVENTS)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_EVENTS.c.event_id)
    )
    inserted = set(session.execute(statement, [_row(e) for e in events]).scalars())
    result.stored = [e for e in events if e.id in inserted]
    result.duplicates = len(events) - len(result.stored)
    index = [e for e in result.stored if e.manifest]
    if index:
        index.sort(key=lambda e: e.at)
        _update_repositories(session, insert, index)
        _update_tags(session, insert, index)
    return result


def _later(current: Any, new: Any) -> ColumnElement[Any]:
    """The later of two nullable times (GREATEST ignores NULL on PostgreSQL, but SQLite's
    ``max()`` returns NULL: spelt out)."""
    return case(
        (new.is_(None), current),
        (current.is_(None), new),
        (new > current, new),
        else_=current,
    )


def _update_repositories(session: Session, insert: Any, events: list[RegistryEvent]) -> None:
    rows: dict[str, dict[str, Any]] = {}
    for event in events:  # in time order: the last one seen is the latest
        row = rows.setdefault(
            event.repository,
            {
                "name": event.repository,
                "last_push_at": None,
                "last_pull_at": None,
                "last_delete_at": None,
                "last_event_at": event.at,
                "pushes": 0,
                "pulls": 0,
            },
        )
        row["last_event_at"] = event.at
        if event.action == "push":
            row["last_push_at"] = event.at
            row["pushes"] += 1
        elif event.action == "pull":
            row["last_pull_at"] = event.at
            row["pulls"] += 1
        elif event.action == "delete":
            row["last_delete_at"] = event.at
    statement = insert(_REPOSITORIES)
    new, table = statement.excluded, _REPOSITORIES.c
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "pushes": table.pushes + new.pushes,
            "pulls": table.pulls + new.pulls,
            "last_push_at": _later(table.last_push_at, new.last_push_at),
            "last_pull_at": _later(table.last_pull_at, new.last_pull_at),
            "last_delete_at": _later(table.last_delete_at, new.last_delete_at),
            "last_event_at": _later(table.last_event_at, new.last_event_at),
        },
    )
    session.execute(statement, list(rows.values()))


def _update_tags(session: Session, insert: Any, events: list[RegistryEvent]) -> None:
    """Pushes set a tag's digest, pulls its last pull; a delete removes the tags it names (a
    tag, every tag of a digest, or every tag of a repository) that were not pushed later.
    Applied in time order: the upserts gathered so far are written before each delete."""
    pushes: dict[tuple[str, str], dict[str, Any]] = {}
    pulls: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        if event.action == "delete":
            _write_tags(session, insert, pushes, pulls)
            pushes, pulls = {}, {}
            _delete_tags(session, event)
        elif event.tag is not None and event.action == "push":
            pushes[(event.repository, event.tag)] = {
                "repository": event.repository,
                "tag": event.tag,
                "digest": event.digest,
                "pushed_at": event.at,
                "pushed_by": event.actor,
                "pulled_at": None,
            }
        elif event.tag is not None and event.action == "pull":
            pulls[(event.repository, event.tag)] = {
                "repository": event.repository,
                "tag": event.tag,
                "digest": event.digest,
                "pushed_at": None,
                "pushed_by": None,
                "pulled_at": event.at,
            }
    _write_tags(session, insert, pushes, pulls)


def _write_tags(
    session: Session,
    insert: Any,
    pushes: dict[tuple[str, str], dict[str, Any]],
    pulls: dict[tuple[str, str], dict[str, Any]],
) -> None:
    table = _TAGS.c
    if pushes:
        statement = insert(_TAGS)
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["repository", "tag"],
            set_={"digest": new.digest, "pushed_at": new.pushed_at, "pushed_by": new.pushed_by},
            where=or_(table.pushed_at.is_(None), table.pushed_at <= new.pushed_at),
        )
        session.execute(statement, list(pushes.values()))
    if pulls:
        statement = insert(_TAGS)
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["repository", "tag"],
            set_={"pulled_at": _later(table.pulled_at, new.pulled_at)},
        )
        session.execute(statement, list(pulls.values()))


def _delete_tags(session: Session, event: RegistryEvent) -> None:
    table = _TAGS.c
    conditions = [
        table.repository == event.repository,
        or_(table.pushed_at.is_(None), table.pushed_at <= event.at),
    ]
    if event.tag is not None:
        conditions.append(table.tag == event.tag)
    elif event.digest is not None:
        conditions.append(table.digest == event.digest)
    session.execute(delete(RegistryTag).where(and_(*conditions)))
