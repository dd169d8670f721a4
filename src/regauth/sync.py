"""Keep every process's caches true to the database: poll the change log.

Each admin change appends to ``change_log`` in its own transaction. Every worker of every
instance polls for new rows every ``interval`` seconds (one indexed query) and then drops the
affected users from its credential cache and reloads the grants snapshot, so a change made
through any instance is enforced everywhere within about a second.

A change is also signalled (see :meth:`Database.signal_change`): with SQLite by a file beside
the database, with PostgreSQL by ``NOTIFY``, which every worker ``LISTEN``s for on a
connection of its own. :meth:`ChangeWatcher.catch_up`, called before a cached login is
trusted, sees the signal (a memory read, or a flag the notification set) and polls at once. So
``regauth user passwd`` or ``regauth grant remove`` take effect on the next request, beside the
server and, with PostgreSQL, on every instance, as soon as the notification has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select

from regauth.store.database import Database
from regauth.store.models import ChangeLog

__all__ = ["Change", "ChangeWatcher"]

log = structlog.get_logger("regauth.sync")
#: how many ids back each poll looks for changes that committed after higher ids
LOOKBACK = 50


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    kind: str
    subjects: tuple[str, ...]


class ChangeWatcher:
    def __init__(
        self,
        database: Database,
        on_changes: Callable[[list[Change]], Awaitable[None]],
        *,
        interval: float = 0.5,
    ) -> None:
        self._db = database
        self._on_changes = on_changes
        self._interval = interval
        self._last_id = 0
        self._applied: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen_stamp = b""
        self._catch_up_lock = asyncio.Lock()
        #: a NOTIFY arrived (or the listener just (re)connected) and no poll has followed yet
        self._notified = False
        self._listener: asyncio.Task[None] | None = None

    def _max_id(self) -> int:
        with self._db.read() as session:
            return int(session.scalar(select(func.max(ChangeLog.id))) or 0)

    def _since(self, last_id: int) -> list[Change]:
        with self._db.read() as session:
            rows = session.execute(
                select(ChangeLog.id, ChangeLog.kind, ChangeLog.subject)
                .where(ChangeLog.id > last_id)
                .order_by(ChangeLog.id)
                .limit(10000)
            )
            return [Change(i, k, tuple((s or "").split())) for i, k, s in rows]

    def prime(self) -> None:
        """Start from the current end of the log (call before loading the snapshot)."""
        self._seen_stamp = self._db.change_stamp()
        self._last_id = self._max_id()
        self._applied = {c.id for c in self._since(max(0, self._last_id - LOOKBACK))}

    async def poll_once(self) -> int:
        # ids can commit out of order on PostgreSQL (two admins at once): look back a little
        # and skip what was already applied, so a late-committing lower id is not lost
        rows = await self._db.run(self._since, max(0, self._last_id - LOOKBACK))
        changes = [c for c in rows if c.id not in self._applied]
        if changes:
            self._last_id = max(self._last_id, changes[-1].id)
            self._applied.update(c.id for c in changes)
            if len(self._applied) > 4 * LOOKBACK:
                floor = self._last_id - 2 * LOOKBACK
                self._applied = {i for i in self._applied if i > floor}
            await self._on_changes(changes)
        return len(changes)

    async def catch_up(self) -> None:
        """Poll now if the change signal moved since the last look; requests that arrive
        meanwhile wait for that poll rather than trust what it may change."""
        if not self._notified and self._db.change_stamp() == self._seen_stamp:
            return
        async with self._catch_up_lock:
            stamp = self._db.change_stamp()
            if not self._notified and stamp == self._seen_stamp:
                return  # another request polled for it
            self._notified = False  # a notification during the poll calls for another
            try:
                await self.poll_once()
            except Exception as exc:  # the periodic poll keeps trying
                self._notified = True
                log.error("polling the change log failed", error=str(exc)[:300])
                return
            self._seen_stamp = stamp

    async def _listen(self) -> None:
        """LISTEN for change notifications on a PostgreSQL connection of this worker's own,
        reconnecting after a failure; every notification (and every reconnection, after which
        some may have been missed) makes the next :meth:`catch_up` poll."""
        import psycopg

        from regauth.store.database import CHANGE_CHANNEL

        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._db.libpq_url(), autocommit=True, connect_timeout=5
                )
                async with connection:
                    await connection.execute(f"LISTEN {CHANGE_CHANNEL}")
                    self._notified = True
                    async for _ in connection.notifies():
                        self._notified = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "listening for account changes failed; polling only, retrying in 5 s",
                    error=str(exc).split("\n", 1)[0][:300],
                )
            await asyncio.sleep(5)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once()
            except Exception as exc:  # the database may be away; keep trying
                log.error("polling the change log failed", error=str(exc)[:300])

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._loop())
        if self._listener is None and not self._db.is_sqlite:
            self._listener = loop.create_task(self._listen())

    async def stop(self) -> None:
        for task in (self._task, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._listener = None
