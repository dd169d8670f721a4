"""Storing the events of one notification: which to keep, one transaction, pruning.

``events.record_pulls`` decides which pulls are kept: ``manifests`` (the default: a pull of an
image is one manifest pull, its blobs would multiply the rows by the layer count), ``all``, or
``none``. Events not kept are acknowledged all the same (the registry would retry forever
otherwise). Events older than ``events.retention_days`` are deleted at most once an hour, by
the process that stores events.
"""

from __future__ import annotations

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

    def keeps(self, event: RegistryEvent) -> bool:
        """Whether ``events.record_pulls`` keeps this event (every other action is kept)."""
        if event.action != "pull" or self._record_pulls == "all":
            return True
        return self._record_pulls == "manifests" and event.manifest

    def store(self, events: Sequence[RegistryEvent]) -> IngestResult:
        """Store one notification's events in one transaction (blocking: run it on the
        database's threads); an exception stores nothing."""
        kept = [e for e in events if self.keeps(e)]
        result = IngestResult(skipped=len(events) - len(kept))
        if kept:
            with self._db.write() as session:
                written = store_events(session, kept)
            result.stored, result.duplicates = written.stored, written.duplicates
        self._maybe_prune()
        return result

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
