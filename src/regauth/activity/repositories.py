"""The repository index: per repository, its last push, pull and delete, how many manifests
were pushed and pulled, and its tags as last seen, kept from the registry's events (see
:mod:`regauth.store.registry_event_writes`), so "what changed recently" needs no registry
crawl. Most recently active first; one indexed query per page and one for its tags.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from regauth.activity.queries import iso
from regauth.store.database import Database
from regauth.store.registry_events import RegistryRepository, RegistryTag

__all__ = [
    "RepositoryFilter",
    "RepositoryPage",
    "get_repository",
    "list_repositories",
    "summaries",
]

MAX_LIMIT = 1000
#: names asked for in one query by :func:`summaries` (below every database's parameter limit)
_CHUNK = 500
_CURSOR = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z)\|(.{1,255})", re.DOTALL)


@dataclass(frozen=True)
class RepositoryFilter:
    #: names starting with this (``team/`` for a namespace)
    prefix: str | None = None
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.cursor is not None:
            _position(self.cursor)


@dataclass(frozen=True)
class RepositoryPage:
    repositories: list[dict[str, Any]]
    next: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"repositories": self.repositories, "next": self.next}


def _position(cursor: str) -> tuple[Any, str]:
    import datetime

    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ValueError("cursor: not a cursor this server gave out")
    try:
        at = datetime.datetime.fromisoformat(match.group(1))
    except ValueError:
        raise ValueError("cursor: not a cursor this server gave out") from None
    return at, match.group(2)


def _tags(rows: list[RegistryTag]) -> dict[str, list[dict[str, Any]]]:
    tags: dict[str, list[dict[str, Any]]] = {}
    for tag in rows:
        tags.setdefault(tag.repository, []).append(
            {
                "tag": tag.tag,
                "digest": tag.digest,
                "pushed_at": iso(tag.pushed_at),
                "pushed_by": tag.pushed_by,
                "pulled_at": iso(tag.pulled_at),
            }
        )
    return tags


def _summary(row: RegistryRepository) -> dict[str, Any]:
    return {
        "name": row.name,
        "last_push_at": iso(row.last_push_at),
        "last_pull_at": iso(row.last_pull_at),
        "last_delete_at": iso(row.last_delete_at),
        "last_event_at": iso(row.last_event_at),
        "pushes": row.pushes,
        "pulls": row.pulls,
    }


def _repository(row: RegistryRepository, tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {**_summary(row), "tags": tags}


def list_repositories(database: Database, filters: RepositoryFilter) -> RepositoryPage:
    """Repositories, most recently active first, each with its tags."""
    table = RegistryRepository
    query = select(table).order_by(table.last_event_at.desc(), table.name)
    if filters.prefix:
        query = query.where(table.name.startswith(filters.prefix, autoescape=True))
    if filters.cursor is not None:
        at, name = _position(filters.cursor)
        query = query.where(
            or_(table.last_event_at < at, and_(table.last_event_at == at, table.name > name))
        )
    with database.read() as session:
        rows = list(session.scalars(query.limit(filters.limit + 1)))
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        names = [r.name for r in rows]
        tag_rows = (
            list(
                session.scalars(
                    select(RegistryTag)
                    .where(RegistryTag.repository.in_(names))
                    .order_by(RegistryTag.repository, RegistryTag.tag)
                )
            )
            if names
            else []
        )
    tags = _tags(tag_rows)
    last = rows[-1] if more else None
    return RepositoryPage(
        [_repository(r, tags.get(r.name, [])) for r in rows],
        f"{iso(last.last_event_at)}|{last.name}" if last is not None else None,
    )


def get_repository(database: Database, name: str) -> dict[str, Any] | None:
    """One repository of the index with its tags, or None."""
    with database.read() as session:
        row = session.get(RegistryRepository, name)
        if row is None:
            return None
        tag_rows = list(
            session.scalars(
                select(RegistryTag).where(RegistryTag.repository == name).order_by(RegistryTag.tag)
            )
        )
    return _repository(row, _tags(tag_rows).get(name, []))


def summaries(database: Database, names: Collection[str]) -> dict[str, dict[str, Any]]:
    """The index's entries (without tags) of these repositories, by name; names the registry
    never reported on are absent. For pages that list names from elsewhere (the console's
    repository list reads the registry's catalog): one primary-key query per 500 names."""
    wanted = sorted(set(names))
    found: dict[str, dict[str, Any]] = {}
    with database.read() as session:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(RegistryRepository).where(RegistryRepository.name.in_(chunk))
            for row in session.scalars(query):
                found[row.name] = _summary(row)
    return found
