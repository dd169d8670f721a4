"""What the console shows of registry events: events as table rows, the repository index beside
the registry's catalog, and one repository's counters and recent activity.

Everything is read through :mod:`regauth.activity` (the queries of ``regauth events`` and the
admin API) and returned with datetimes for the templates' ``when`` macro. The functions block:
pages call them through :meth:`Console.run`. Without events (no ``registry.notification_secret``,
or nothing reported yet) they find nothing, and the pages look as they did before.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from regauth.activity import EventFilter, get_repository, query_events, summaries
from regauth.runtime import Runtime

__all__ = [
    "ANONYMOUS",
    "RECENT",
    "EventRow",
    "RepositoryActivity",
    "Summary",
    "event_row",
    "index_of",
    "repository_activity",
    "short_digest",
    "sort_by",
]

#: how the console shows (and the activity filter takes) the actor of anonymous requests
ANONYMOUS = "(anonymous)"
#: the events of a repository its page shows
RECENT = 10
_EPOCH = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)


def _moment(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text) if text else None


def short_digest(digest: str | None) -> str:
    """``sha256:4f2a9c1b7e3d…``: the algorithm and the first 12 hex digits."""
    if not digest:
        return ""
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}…" if len(value) > 12 else digest


@dataclass(frozen=True)
class EventRow:
    """One registry event as a table shows it."""

    at: datetime.datetime
    action: str
    repository: str
    tag: str | None
    digest: str | None
    size: int | None
    from_repository: str | None
    #: the token subject; None for anonymous
    actor: str | None
    client_addr: str | None
    user_agent: str | None
    #: the registry node and its run
    source: str | None
    instance_id: str | None

    @property
    def short_digest(self) -> str:
        return short_digest(self.digest)

    @property
    def actor_shown(self) -> str:
        return self.actor if self.actor is not None else ANONYMOUS


def event_row(event: dict[str, Any]) -> EventRow:
    """A row of :func:`regauth.activity.query_events` for a template."""
    return EventRow(
        at=datetime.datetime.fromisoformat(event["at"]),
        action=event["action"],
        repository=event["repository"],
        tag=event["tag"],
        digest=event["digest"],
        size=event["size"],
        from_repository=event["from_repository"],
        actor=event["actor"],
        client_addr=event["client_addr"],
        user_agent=event["user_agent"],
        source=event["source"],
        instance_id=event["instance_id"],
    )


@dataclass(frozen=True)
class Summary:
    """A repository's entry in the index, as the repository list shows it."""

    last_push_at: datetime.datetime | None
    last_pull_at: datetime.datetime | None


def sort_by(index: dict[str, Summary], column: str) -> Callable[[str], datetime.datetime]:
    """A sort key of repository names by their last ``push`` or ``pull``; never (or not in the
    index) sorts as the oldest."""

    def key(name: str) -> datetime.datetime:
        found = index.get(name)
        if found is None:
            return _EPOCH
        moment = found.last_push_at if column == "push" else found.last_pull_at
        return moment or _EPOCH

    return key


def index_of(runtime: Runtime, names: Collection[str]) -> dict[str, Summary]:
    """The index's last push and pull of these repositories; the ones never reported on are
    absent (an empty answer: no events, the list shows no activity columns)."""
    return {
        name: Summary(_moment(found["last_push_at"]), _moment(found["last_pull_at"]))
        for name, found in summaries(runtime.database, names).items()
    }


@dataclass(frozen=True)
class RepositoryActivity:
    """What a repository's page shows of its events."""

    last_push_at: datetime.datetime | None
    last_pull_at: datetime.datetime | None
    last_delete_at: datetime.datetime | None
    #: manifests pushed and pulled, counted since the first event (they outlive retention)
    pushes: int
    pulls: int
    #: who pushed last: a token subject, ``ANONYMOUS``, or None when no event or tag says
    last_push_by: str | None
    #: its latest events, newest first
    recent: list[EventRow]


def _last_push_by(
    runtime: Runtime, name: str, recent: list[EventRow], tags: list[dict[str, Any]]
) -> str | None:
    pushes = [e for e in recent if e.action == "push"]
    if not pushes:
        last = EventFilter(repository=name, action="push", limit=1)
        pushes = [event_row(e) for e in query_events(runtime.database, last).events]
    if pushes:
        return pushes[0].actor_shown
    # the push events are past their retention: the tags remember who pushed them
    pushed = [t for t in tags if t["pushed_at"] is not None]
    if not pushed:
        return None
    newest = max(pushed, key=lambda t: str(t["pushed_at"]))
    by: str | None = newest["pushed_by"]
    return by if by is not None else ANONYMOUS


def repository_activity(
    runtime: Runtime, name: str, recent: int = RECENT
) -> RepositoryActivity | None:
    """The index's counters of one repository and its latest events; None when the registry
    never reported on it."""
    found = get_repository(runtime.database, name)
    if found is None:
        return None
    page = query_events(runtime.database, EventFilter(repository=name, limit=recent))
    rows = [event_row(e) for e in page.events]
    return RepositoryActivity(
        last_push_at=_moment(found["last_push_at"]),
        last_pull_at=_moment(found["last_pull_at"]),
        last_delete_at=_moment(found["last_delete_at"]),
        pushes=found["pushes"],
        pulls=found["pulls"],
        last_push_by=_last_push_by(runtime, name, rows, found["tags"]),
        recent=rows,
    )
