"""``regauth db``: the schema of the database."""

from __future__ import annotations

from pathlib import Path

import click

from regauth.cli.common import fail, load, main, state_options


@main.group("db")
def db() -> None:
    """The database schema (SQLite or PostgreSQL)."""


def _database(config_path: Path | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
    from regauth.datadir import DataDirError
    from regauth.runtime import database_url
    from regauth.store.database import Database, SchemaError

    config, directory = load(config_path, data_dir)
    if config.database.url is None:
        try:
            directory.require()
        except DataDirError as exc:
            fail(str(exc))
    try:
        return Database(database_url(config, directory))
    except SchemaError as exc:
        fail(str(exc))


@db.command()
@state_options
def upgrade(config_path: Path | None, data_dir: Path | None) -> None:
    """Apply every pending migration (creates the schema in an empty database)."""
    from regauth.store.database import SchemaError, SchemaState

    database = _database(config_path, data_dir)
    try:
        before = database.status()
        if before.state is SchemaState.UNKNOWN:
            fail(
                f"the database {database.display_url} is not one this regauth knows "
                f"(revision {before.current or 'none'}): refusing to touch it"
            )
        database.use_wal()
        database.upgrade()
        after = database.status()
    except SchemaError as exc:
        fail(str(exc))
    finally:
        database.dispose()
    click.echo(
        f"database {database.display_url}: {before.current or 'empty'} -> {after.current}"
        + (" (already current)" if before.current == after.current else "")
    )


@db.command()
@state_options
def status(config_path: Path | None, data_dir: Path | None) -> None:
    """Show the schema revision; exit 1 when migrations are pending."""
    import sys

    from regauth.store.database import SchemaError, SchemaState

    database = _database(config_path, data_dir)
    try:
        current = database.status()
    except SchemaError as exc:
        fail(str(exc))
    finally:
        database.dispose()
    click.echo(
        f"database {database.display_url}: {current.state.value} "
        f"(revision {current.current or 'none'}, latest {current.head})"
    )
    sys.exit(0 if current.state is SchemaState.CURRENT else 1)
