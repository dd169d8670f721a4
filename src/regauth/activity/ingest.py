"""Storing the events of one notification: which to keep, one transaction, pruning.

``events.record_pulls`` decides which pulls are kept: ``manifests`` (the default: a pull of an
image is one manifest pull, its blobs would multiply the rows by the layer count), ``all``, or
``none``. Events not kept are acknowledged all the same (the registry would retry forever
otherwise). Events older than ``events.retention_days`` are deleted at most once an hour, by
the process that stores events.

Notifications that arrive while a transaction is being written (several registries, or
instances of one) wait and are written together in the next one, each answered with its own
result (group commit): the registry sends one event per notification, and on SQLite a
transaction's commit costs more than its rows. A notification is never split across
transactions, so each is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import delete

from regauth.clock import Clock, utcnow
from regauth.protocol.notifications import RegistryEvent
from regauth.store.database import Database
from regauth.store.registry_event_writes import store_events
from regauth.store.registry_events import RegistryEventRow

__all__ = ["RECORD_PULLS", "EventIngest", "IngestResult"]

log = structlog.get_logger("regauth.activity")

RECORD_PULLS = ("manifests", "all", "none")
PRUNE_EVERY_SECONDS = 3600.0
#: the most notifications written in one transaction
MAX_GROUP = 256


@dataclass
class IngestResult:
    """What became of one notification's events."""

    stored: list[RegistryEvent] = field(default_factory=list)
    #: already stored (a redelivery)
    duplicates: int = 0
    #: not kept (``events.record_pulls``)
    skipped: int = 0


class EventIngest:
    def __init__(
        self,
        database: Database,
        *,
        record_pulls: str = "manifests",
        retention: datetime.timedelta = datetime.timedelta(days=90),
        clock: Clock = utcnow,
    ) -> None:
        if record_pulls not in RECORD_PULLS:
            raise ValueError(f"record_pulls must be one of {', '.join(RECORD_PULLS)}")
        self._db = database
        self._record_pulls = record_pulls
        self._retention = retention
        self._clock = clock
        self._pruned_at: float | None = None
        self._prune_lock = threading.Lock()
        #: notifications waiting for the next transaction, with their answers to be
        self._waiting: list[tuple[Sequence[RegistryEvent], asyncio.Future[IngestResult]]] = []
        self._writer: asyncio.Task[None] | None = None

    def keeps(self, event: RegistryEvent) -> bool:
        """Whether ``events.record_pulls`` keeps this event (every other action is kept)."""
        if event.action != "pull" or self._record_pulls == "all":
            return True
        return self._record_pulls == "manifests" and event.manifest

    def store(self, events: Sequence[RegistryEvent]) -> IngestResult:
        """Store one notification's events in one transaction (blocking); an exception
        stores nothing."""
        return self.store_group([events])[0]

    def store_group(self, notifications: Sequence[Sequence[RegistryEvent]]) -> list[IngestResult]:
        """Store several notifications in one transaction (blocking: run it on the database's
        threads), and what became of each; an exception stores none of them."""
        results: list[IngestResult] = []
        kept: list[RegistryEvent] = []
        for events in notifications:
            mine = [e for e in events if self.keeps(e)]
            kept += mine
            results.append(IngestResult(skipped=len(events) - len(mine)))
        if kept:
            inserted = {id(e) for e in store_events(self._db, kept).stored}
            for events, result in zip(notifications, results, strict=True):
                mine = [e for e in events if self.keeps(e)]
                result.stored = [e for e in mine if id(e) in inserted]
                result.duplicates = len(mine) - len(result.stored)
        self._maybe_prune()
        return results

    async def submit(self, events: Sequence[RegistryEvent]) -> IngestResult:
        """Store one notification's events from the event loop: in the next transaction, with
        whatever other notifications arrive meanwhile."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting())
        return await asyncio.shield(future)

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
                try:
                    results = await self._db.run(self.store_group, [events for events, _ in group])
                except Exception as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writer = None

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        if not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._pruned_at = now
            self.prune()
        except Exception as exc:  # the events are stored; pruning tries again later
            log.error("pruning old registry events failed", error=str(exc)[:300])
        finally:
            self._prune_lock.release()

    def prune(self) -> int:
        """Delete the events older than the retention; how many were deleted. The repository
        index keeps its counts (they count every event ever kept)."""
        cutoff = self._clock() - self._retention
        with self._db.write() as session:
            deleted = session.execute(delete(RegistryEventRow).where(RegistryEventRow.at < cutoff))
        return int(getattr(deleted, "rowcount", 0) or 0)
