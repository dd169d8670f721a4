"""Storing registry events on SQLite and a real PostgreSQL: one transaction per group, an event
id stored once (even twice in one group), the repository index moved only by what was really
inserted and only forward in time, tags removed by the deletes that name them, old events
pruned while the index keeps its counts, and queries answering on both databases alike."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest

from regauth.activity import (
    EventFilter,
    EventIngest,
    RepositoryFilter,
    get_repository,
    list_repositories,
    query_events,
)
from regauth.protocol.notifications import RegistryEvent, parse_envelope
from regauth.store.database import Database

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def events(*specs: tuple[Any, ...]) -> list[RegistryEvent]:
    """(id, action, repository, tag, digest, minutes before NOW, actor) each."""
    raw = []
    for event_id, action, repository, tag, digest, minutes, actor in specs:
        target: dict[str, Any] = {"repository": repository}
        if tag:
            target["tag"] = tag
        if digest:
            target.update(digest=digest, mediaType="application/vnd.oci.image.manifest.v1+json")
        raw.append(
            {
                "id": event_id,
                "action": action,
                "timestamp": (NOW - datetime.timedelta(minutes=minutes)).isoformat(),
                "target": target,
                "actor": {"name": actor} if actor else {},
            }
        )
    return parse_envelope(orjson.dumps({"events": raw}))


def test_a_group_is_stored_once_and_moves_the_index(database: Database) -> None:
    ingest = EventIngest(database, clock=lambda: NOW)
    first = events(
        ("a", "push", "team/app", "1", D1, 30, "alice"),
        ("b", "pull", "team/app", "1", D1, 20, None),
    )
    second = events(
        ("a", "push", "team/app", "1", D1, 30, "alice"),  # a redelivery
        ("c", "push", "team/app", "1", D2, 10, "bob"),  # overwrites the tag
    )
    # the parser refuses an id twice in one envelope; two envelopes in one group may repeat it
    third = events(("c", "push", "team/app", "1", D2, 10, "bob"))
    results = ingest.store_group([first, second, third])
    assert [(len(r.stored), r.duplicates) for r in results] == [(2, 0), (1, 1), (0, 1)]
    page = query_events(database, EventFilter())
    assert [e["id"] for e in page.events] == ["c", "b", "a"]
    repository = get_repository(database, "team/app")
    assert repository is not None
    assert (repository["pushes"], repository["pulls"]) == (2, 1)
    assert repository["last_push_at"] == "2026-11-20T11:50:00Z"
    (tag,) = repository["tags"]
    assert (tag["digest"], tag["pushed_by"], tag["pulled_at"]) == (
        D2,
        "bob",
        "2026-11-20T11:40:00Z",
    )


def test_deletes_remove_the_tags_they_name_but_not_later_pushes(database: Database) -> None:
    ingest = EventIngest(database, clock=lambda: NOW)
    ingest.store(
        events(
            ("p1", "push", "a/b", "1", D1, 50, "x"),
            ("p2", "push", "a/b", "2", D1, 50, "x"),
            ("p3", "push", "a/b", "3", D2, 50, "x"),
            ("p4", "push", "a/b", "4", D2, 50, "x"),
        )
    )
    ingest.store(events(("d1", "delete", "a/b", None, D1, 40, "x")))  # every tag of D1
    ingest.store(events(("d2", "delete", "a/b", "3", None, 30, "x")))  # one tag
    ingest.store(events(("p5", "push", "a/b", "4", D2, 5, "x")))
    ingest.store(events(("d3", "delete", "a/b", None, None, 10, "x")))  # the repository, late
    repository = get_repository(database, "a/b")
    assert repository is not None
    assert [t["tag"] for t in repository["tags"]] == ["4"]  # pushed after the repository delete
    assert repository["last_delete_at"] == "2026-11-20T11:50:00Z"


def test_prune_keeps_the_index(database: Database) -> None:
    ingest = EventIngest(database, retention=datetime.timedelta(days=1), clock=lambda: NOW)
    ingest.store(
        events(
            ("old", "push", "a/b", "1", D1, 3 * 24 * 60, "x"),
            ("new", "push", "a/b", "1", D1, 60, "x"),
        )
    )
    # the first store of a process prunes at once (then at most hourly)
    assert [e["id"] for e in query_events(database, EventFilter()).events] == ["new"]
    ingest.store(events(("older", "push", "a/b", "1", D1, 2 * 24 * 60, "x")))
    assert ingest.prune() == 1
    repository = get_repository(database, "a/b")
    assert repository is not None and repository["pushes"] == 3


def test_repository_pages_most_recent_first(database: Database) -> None:
    ingest = EventIngest(database, clock=lambda: NOW)
    ingest.store(
        events(*[(f"e{i}", "push", f"ns{i % 2}/r{i}", "1", D1, 100 - i, "x") for i in range(7)])
    )
    names: list[str] = []
    cursor = None
    while True:
        page = list_repositories(database, RepositoryFilter(limit=3, cursor=cursor))
        names += [r["name"] for r in page.repositories]
        if page.next is None:
            break
        cursor = page.next
    assert names == [f"ns{i % 2}/r{i}" for i in reversed(range(7))]
    only = list_repositories(database, RepositoryFilter(prefix="ns1/"))
    assert [r["name"] for r in only.repositories] == ["ns1/r5", "ns1/r3", "ns1/r1"]


def test_a_failed_group_stores_nothing(database: Database) -> None:
    ingest = EventIngest(database, clock=lambda: NOW)
    good = events(("g", "push", "a/b", "1", D1, 5, "x"))
    bad = events(("h", "push", "a/b", "1", D1, 5, "x"))
    object.__setattr__(bad[0], "size", 2**70)  # more than a BIGINT: both databases refuse
    with pytest.raises(Exception, match=r"(?i)too large|out of range"):
        ingest.store_group([good, bad])
    assert query_events(database, EventFilter()).events == []
