"""The database handle: engine, sessions, schema status and migrations.

SQLite (the embedded default, a file in the data folder) runs in WAL mode with a busy timeout,
so several worker processes share it safely; writes open ``BEGIN IMMEDIATE`` transactions so
they queue instead of failing half-way. PostgreSQL serves several instances; migrations there
hold an advisory lock so two instances starting at once do not both migrate.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from regauth.store.change_signal import ChangeSignal

__all__ = ["Database", "SchemaError", "SchemaState", "SchemaStatus", "normalize_url"]

T = TypeVar("T")
_MIGRATION_LOCK = 7_465_813_202  # an arbitrary advisory lock key for PostgreSQL


class SchemaError(Exception):
    """The database cannot be used: unreachable, out of date, or unknown to this version."""


class SchemaState(enum.Enum):
    EMPTY = "empty"
    CURRENT = "current"
    OUTDATED = "outdated"
    UNKNOWN = "unknown"  # newer than this regauth, or not a regauth database


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str


#: ``session.info`` key: this transaction changed accounts (see :meth:`Database.write`)
CHANGED = "regauth_changed"
#: the PostgreSQL notification channel for account changes
CHANGE_CHANNEL = "regauth_changes"


def _change_signal_path(url: str) -> Path | None:
    """``<database file>-changes`` beside a SQLite file; none for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-changes")


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3; other URLs pass unchanged."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SchemaError("database.url: not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise SchemaError(
            f"database.url: unsupported database {parsed.drivername!r}: use sqlite or postgresql"
        )
    return parsed.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    location = resources.files("regauth.store") / "migrations"
    config.set_main_option("script_location", str(location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise SchemaError("no migrations found")
    return head


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalize_url(url)
        self.display_url = describe_url(self.url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            options.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
        self.engine: Engine = create_engine(self.url, **options)
        if self.is_sqlite:
            self._configure_sqlite(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(regauth_write=True), expire_on_commit=False
        )
        self._pool_size = pool_size
        self._executor: ThreadPoolExecutor | None = None
        signal_path = _change_signal_path(self.url) if self.is_sqlite else None
        self.change_signal = ChangeSignal(signal_path) if signal_path is not None else None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking database work on this database's own threads, off the event loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._pool_size, thread_name_prefix="regauth-db"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # take over transaction control from the sqlite3 module (see the begin hook)
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("regauth_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends, or rolls back on an exception.

        A transaction that changed accounts (it set ``session.info[CHANGED]``) signals it:
        on PostgreSQL with a ``NOTIFY`` inside the transaction, on SQLite by bumping the signal
        file once it has committed."""
        with self._writer() as session:
            with session.begin():
                yield session
                if session.info.get(CHANGED) and not self.is_sqlite:
                    # delivered by PostgreSQL when, and only if, this transaction commits
                    session.execute(text(f"NOTIFY {CHANGE_CHANNEL}"))
            if session.info.pop(CHANGED, False):
                self.signal_change()

    def signal_change(self) -> None:
        """Tell the processes on this machine that share the SQLite file that the change log
        grew (see :mod:`regauth.store.change_signal`; PostgreSQL transactions ``NOTIFY``
        instead). Best effort: the periodic poll catches the change anyway."""
        if self.change_signal is not None:
            self.change_signal.bump()

    def libpq_url(self) -> str:
        """The PostgreSQL URL for a plain psycopg connection (the change listener)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def change_stamp(self) -> bytes:
        """The change signal's current value (empty when there is none): a memory read,
        cheap enough for every request."""
        if self.change_signal is None:
            return b""
        return self.change_signal.read()

    def dispose(self) -> None:
        if self.change_signal is not None:
            self.change_signal.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.engine.dispose()

    # ------------------------------------------------------------------ schema

    def status(self) -> SchemaStatus:
        from alembic.runtime.migration import MigrationContext

        head = head_revision()
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
                tables = set(inspect(connection).get_table_names())
        except OperationalError as exc:
            raise SchemaError(
                f"cannot reach the database {self.display_url}: {_first_line(exc)}"
            ) from None
        if current is None:
            state = SchemaState.EMPTY if not tables - {"alembic_version"} else SchemaState.UNKNOWN
        elif current == head:
            state = SchemaState.CURRENT
        elif self._is_known(current):
            state = SchemaState.OUTDATED
        else:
            state = SchemaState.UNKNOWN
        return SchemaStatus(state, current, head)

    @staticmethod
    def _is_known(revision: str) -> bool:
        from alembic.script import ScriptDirectory

        scripts = ScriptDirectory.from_config(_alembic_config())
        try:
            scripts.get_revision(revision)
        except Exception:  # alembic raises several kinds for an unknown id
            return False
        return True

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        # BEGIN IMMEDIATE on SQLite: a second process starting at the same moment waits for
        # this migration instead of failing with "database is locked"
        with self.engine.execution_options(regauth_write=True).begin() as connection:
            if not self.is_sqlite:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(_alembic_config(connection), revision)

    def downgrade(self, revision: str) -> None:
        """Back to an older schema (for tests of the migrations and for rolling back)."""
        from alembic import command

        with self.engine.execution_options(regauth_write=True).begin() as connection:
            if not self.is_sqlite:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.downgrade(_alembic_config(connection), revision)

    def use_wal(self) -> None:
        """Switch a SQLite file known to be regauth's to WAL (persistent, readers never block
        the writer); never done to a file this version does not recognise."""
        if self.is_sqlite:
            raw = self.engine.raw_connection()  # outside any transaction, as the pragma needs
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.close()
            finally:
                raw.close()

    def ensure_schema(self, *, upgrade: bool) -> SchemaStatus:
        """Create an empty database's schema; refuse (or upgrade, if told) an outdated one."""
        status = self.status()
        if status.state is not SchemaState.UNKNOWN:
            self.use_wal()
        if status.state is SchemaState.CURRENT:
            return status
        if status.state is SchemaState.EMPTY or (status.state is SchemaState.OUTDATED and upgrade):
            self.upgrade()
            return self.status()
        if status.state is SchemaState.OUTDATED:
            raise SchemaError(
                f"the database schema is out of date ({status.current}, this regauth needs "
                f"{status.head}): run `regauth db upgrade`, or start with `regauth serve "
                "--upgrade`"
            )
        raise SchemaError(
            f"the database {self.display_url} is not a regauth database this version knows "
            f"(revision {status.current or 'none'}, tables present): refusing to touch it"
        )


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__
