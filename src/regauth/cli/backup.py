"""``regauth backup`` and ``regauth restore``: the SQLite database and the data folder's files
in one archive (see :mod:`regauth.backup`)."""

from __future__ import annotations

from pathlib import Path

import click

from regauth.cli.common import fail, load, main, state_options


@main.command()
@state_options
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(config_path: Path | None, data_dir: Path | None, force: bool, file: Path) -> None:
    """Write the SQLite database (a consistent copy, while regauth serve runs) and the data
    folder's files into FILE, readable by you only. PostgreSQL: see the README's pg_dump."""
    from regauth.backup import POSTGRESQL_RECIPE, BackupError, create_backup, sqlite_database

    config, directory = load(config_path, data_dir)
    try:
        database = sqlite_database(config, directory)
        if database is None:
            fail(POSTGRESQL_RECIPE)
        summary = create_backup(database, directory, file, force=force)
    except BackupError as exc:
        fail(str(exc))
    click.echo(
        f"backup written: {summary.archive} (mode 600; schema {summary.schema or 'unknown'}; "
        f"database {summary.database_bytes} bytes; files: {', '.join(summary.files) or 'none'})"
    )


@main.command()
@state_options
@click.option(
    "--force", is_flag=True, help="Replace the database and files of a data folder in use."
)
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def restore(config_path: Path | None, data_dir: Path | None, force: bool, file: Path) -> None:
    """Restore a backup made by `regauth backup` into the data folder (a new or empty one;
    --force replaces what is there: stop regauth serve first)."""
    from regauth.backup import POSTGRESQL_RECIPE, BackupError, restore_backup, sqlite_database

    config, directory = load(config_path, data_dir)
    try:
        database = sqlite_database(config, directory)
        if database is None:
            fail(POSTGRESQL_RECIPE)
        summary = restore_backup(file, database, directory, force=force)
    except BackupError as exc:
        fail(str(exc))
    click.echo(
        f"restored {file} into {directory.path} (schema {summary.schema or 'unknown'}; files: "
        f"{', '.join(summary.files) or 'none'}); start regauth serve with --data-dir "
        f"{directory.path}"
    )
