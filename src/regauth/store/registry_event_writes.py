"""Storing a batch of registry events and updating the repository index, in the caller's
transaction.

Events are inserted with ``ON CONFLICT (event_id) DO NOTHING ... RETURNING event_id`` (SQLite
3.35+ and PostgreSQL 9.5+ both speak it), so a redelivered event is skipped even when two instances
receive it at once, and only the events really inserted move the index: the counters and last
times of ``registry_repositories`` and the tags of ``registry_tags``. The index only moves
forward in time: a late redelivery of an older push does not overwrite a newer tag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from regauth.protocol.notifications import RegistryEvent
from regauth.store.database import Database

__all__ = ["StoreResult", "store_events"]

_EVENT_COLUMNS = (
    "event_id, at, action, repository, tag, digest, media_type, size, from_repository, actor, "
    "client_addr, user_agent, source, instance_id"
)
_EVENT_WIDTH = 14
#: rows per INSERT statement (SQLite allows 32,766 parameters per statement)
_MAX_ROWS = 128


def _later(column: str) -> str:
    """The later of the stored time and the new one (NULL stays out; SQLite's ``max()``
    would return NULL, PostgreSQL has GREATEST: spelt out for both)."""
    old, new = f"registry_repositories.{column}", f"excluded.{column}"
    return (
        f"{column} = CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL OR {new} > {old}"
        f" THEN {new} ELSE {old} END"
    )


# column names and marks only: every value is bound
_REPOSITORY_UPSERT = (
    "INSERT INTO registry_repositories (name, last_push_at, last_pull_at, last_delete_at,"  # noqa: S608
    " last_event_at, pushes, pulls) VALUES ({marks}) ON CONFLICT (name) DO UPDATE SET"
    " pushes = registry_repositories.pushes + excluded.pushes,"
    " pulls = registry_repositories.pulls + excluded.pulls, "
    + ", ".join(_later(c) for c in ("last_push_at", "last_pull_at", "last_delete_at"))
    + ", "
    + _later("last_event_at")
)
_TAG_PUSH = (
    "INSERT INTO registry_tags (repository, tag, digest, pushed_at, pushed_by, pulled_at)"
    " VALUES ({marks}) ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest,"
    " pushed_at = excluded.pushed_at, pushed_by = excluded.pushed_by"
    " WHERE registry_tags.pushed_at IS NULL OR registry_tags.pushed_at <= excluded.pushed_at"
)
_TAG_PULL = (
    "INSERT INTO registry_tags (repository, tag, digest, pushed_at, pushed_by, pulled_at)"
    " VALUES ({marks}) ON CONFLICT (repository, tag) DO UPDATE SET pulled_at = CASE"
    " WHEN registry_tags.pulled_at IS NULL OR excluded.pulled_at > registry_tags.pulled_at"
    " THEN excluded.pulled_at ELSE registry_tags.pulled_at END"
)
_TAG_DELETE = (
    "DELETE FROM registry_tags WHERE repository = {mark}"
    " AND (pushed_at IS NULL OR pushed_at <= {mark})"
)


@dataclass
class StoreResult:
    """The events inserted by this batch, and how many were already stored."""

    stored: list[RegistryEvent] = field(default_factory=list)
    duplicates: int = 0


class _Dialect:
    """Statement texts and the stored form of a time for one database (SQLite keeps UTC
    times as text, the form SQLAlchemy's DateTime writes; psycopg takes datetime objects)."""

    def __init__(self, sqlite: bool) -> None:
        self.mark = "?" if sqlite else "%s"
        self.time: Callable[[Any], Any] = (
            (lambda at: at.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda at: at)
        )

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)


def _row(event: RegistryEvent, time: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        event.id,
        time(event.at),
        event.action,
        event.repository,
        event.tag,
        event.digest,
        event.media_type,
        event.size,
        event.from_repository,
        event.actor,
        event.client_addr,
        event.user_agent,
        event.source,
        event.instance_id,
    )


@contextlib.contextmanager
def _transaction(database: Database) -> Iterator[Any]:
    """A write transaction on a pooled driver connection: its cursor. SQLite's connections
    run in autocommit mode (regauth begins its own transactions): ``BEGIN IMMEDIATE`` queues
    this writer behind the others at once instead of failing half-way."""
    raw: Any = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if database.is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            if database.is_sqlite:
                cursor.execute("ROLLBACK")
            else:
                raw.rollback()
            raise
        if database.is_sqlite:
            cursor.execute("COMMIT")
        else:
            raw.commit()
    finally:
        raw.close()  # back to the pool


def _insert_events(cursor: Any, dialect: _Dialect, events: Sequence[RegistryEvent]) -> set[str]:
    """Insert the events not stored yet; the ids really inserted."""
    inserted: set[str] = set()
    row = f"({dialect.marks(_EVENT_WIDTH)})"
    for start in range(0, len(events), _MAX_ROWS):
        chunk = events[start : start + _MAX_ROWS]
        statement = (
            f"INSERT INTO registry_events ({_EVENT_COLUMNS}) VALUES "  # noqa: S608 - marks only
            + ", ".join([row] * len(chunk))
            + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        values = tuple(v for event in chunk for v in _row(event, dialect.time))
        cursor.execute(statement, values)
        inserted.update(r[0] for r in cursor.fetchall())
    return inserted


def store_events(database: Database, events: Sequence[RegistryEvent]) -> StoreResult:
    """Insert ``events`` (skipping ids already stored) and update the index from the new ones,
    in one transaction: all of it, or (on an exception) nothing.

    Plain SQL straight to the driver: the registry sends one event per request, so the cost
    per transaction is the cost per event, and SQLAlchemy's session and statement building
    were most of it (about 1 ms of 1.5 ms per event, measured with bench/events.py)."""
    result = StoreResult()
    if not events:
        return result
    dialect = _Dialect(database.is_sqlite)
    with _transaction(database) as cursor:
        inserted = _insert_events(cursor, dialect, events)
        for event in events:  # an id sent twice in one group is stored by its first
            if event.id in inserted:
                inserted.discard(event.id)
                result.stored.append(event)
        result.duplicates = len(events) - len(result.stored)
        index = sorted((e for e in result.stored if e.manifest), key=lambda e: e.at)
        if index:
            _update_repositories(cursor, dialect, index)
            _update_tags(cursor, dialect, index)
    return result


def _update_repositories(cursor: Any, dialect: _Dialect, events: list[RegistryEvent]) -> None:
    rows: dict[str, list[Any]] = {}
    for event in events:  # in time order: the last one seen is the latest
        # name, last push, last pull, last delete, last event, pushes, pulls
        row = rows.setdefault(event.repository, [event.repository, None, None, None, None, 0, 0])
        row[4] = event.at
        if event.action == "push":
            row[1] = event.at
            row[5] += 1
        elif event.action == "pull":
            row[2] = event.at
            row[6] += 1
        elif event.action == "delete":
            row[3] = event.at
    time = dialect.time
    # in name order: two instances writing the same repositories lock them in one order
    values = [
        (r[0], *(time(t) if t is not None else None for t in r[1:5]), r[5], r[6])
        for _, r in sorted(rows.items())
    ]
    cursor.executemany(_REPOSITORY_UPSERT.format(marks=dialect.marks(7)), values)


def _update_tags(cursor: Any, dialect: _Dialect, events: list[RegistryEvent]) -> None:
    """Pushes set a tag's digest, pulls its last pull; a delete removes the tags it names (a
    tag, every tag of a digest, or every tag of a repository) that were not pushed later.
    Applied in time order: the upserts gathered so far are written before each delete."""
    time = dialect.time
    pushes: dict[tuple[str, str], tuple[Any, ...]] = {}
    pulls: dict[tuple[str, str], tuple[Any, ...]] = {}
    for event in events:
        if event.action == "delete":
            _write_tags(cursor, dialect, pushes, pulls)
            pushes, pulls = {}, {}
            _delete_tags(cursor, dialect, event)
        elif event.tag is not None and event.action == "push":
            pushes[(event.repository, event.tag)] = (
                event.repository,
                event.tag,
                event.digest,
                time(event.at),
                event.actor,
                None,
            )
        elif event.tag is not None and event.action == "pull":
            pulls[(event.repository, event.tag)] = (
                event.repository,
                event.tag,
                event.digest,
                None,
                None,
                time(event.at),
            )
    _write_tags(cursor, dialect, pushes, pulls)


def _write_tags(
    cursor: Any,
    dialect: _Dialect,
    pushes: dict[tuple[str, str], tuple[Any, ...]],
    pulls: dict[tuple[str, str], tuple[Any, ...]],
) -> None:
    # in key order, as the repositories: no two transactions wait for each other in a circle
    if pushes:
        rows = [row for _, row in sorted(pushes.items())]
        cursor.executemany(_TAG_PUSH.format(marks=dialect.marks(6)), rows)
    if pulls:
        rows = [row for _, row in sorted(pulls.items())]
        cursor.executemany(_TAG_PULL.format(marks=dialect.marks(6)), rows)


def _delete_tags(cursor: Any, dialect: _Dialect, event: RegistryEvent) -> None:
    mark = dialect.mark
    statement = _TAG_DELETE.format(mark=mark)
    values: list[Any] = [event.repository, dialect.time(event.at)]
    if event.tag is not None:
        statement += f" AND tag = {mark}"
        values.append(event.tag)
    elif event.digest is not None:
        statement += f" AND digest = {mark}"
        values.append(event.digest)
    cursor.execute(statement, tuple(values))
