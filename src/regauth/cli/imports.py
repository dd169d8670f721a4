"""The ``regauth import`` commands: move from docker_auth or Keycloak in one command.

* ``import docker-auth FILE``: a docker_auth configuration -> a regauth configuration (checked
  by regauth's parser before it is written), and what did not carry over;
  ``--users-to-database`` puts the static users into the database instead of the file.
* ``import keycloak FILE``: a realm export's users, passwords included, into the database.

Nothing is written unless everything was understood: a bad file is exit 2 and one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from regauth.cli.common import (
    account_service,
    emit,
    fail,
    json_option,
    main,
    reports_account_errors,
    state_options,
)

FILE = click.Path(dir_okay=False, path_type=Path)


@main.group("import")
def import_() -> None:
    """Move to regauth from docker_auth or Keycloak."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")


def _write_new(path: Path, text: str, force: bool) -> Path:
    """Write beside ``path`` first; the caller renames it in place once all else is done."""
    if path.exists() and not force:
        fail(f"{path} exists; give --force to replace it")
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    return staged


def _print_notes(notes: list[dict[str, str]], err: bool) -> None:
    if not notes:
        click.echo("everything carried over", err=err)
        return
    click.echo("not carried over, and what to do instead:", err=err)
    for note in notes:
        click.echo(f"  {note['key']}: {note['what']}", err=err)


@import_.command("docker-auth")
@click.argument("source", type=FILE)
@click.option(
    "--out", type=FILE, default=None, help="Write the configuration here (default: print it)."
)
@click.option(
    "--users-to-database",
    is_flag=True,
    help="Put the static users (bcrypt hashes, "
    "labels) into regauth's database instead of the file.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="The registry's auth.token.service (repeatable); docker_auth accepted any.",
)
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@state_options
@json_option
@reports_account_errors
def import_docker_auth(
    source: Path,
    out: Path | None,
    users_to_database: bool,
    services: tuple[str, ...],
    force: bool,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Convert a docker_auth configuration into regauth's, and list what has no equivalent."""
    from regauth.config import ConfigError
    from regauth.importers import (
        UnreadableFile,
        convert_docker_auth,
        read_docker_auth,
        render_config,
    )

    try:
        conversion = convert_docker_auth(
            read_docker_auth(_read(source)),
            services=services,
            users_to_database=users_to_database,
            base_dir=source.resolve().parent,
        )
    except UnreadableFile as exc:
        fail(f"{source}: {exc}")
    except ConfigError as exc:
        fail(exc.problems[0])
    text = render_config(conversion, source.name)
    staged = _write_new(out, text, force) if out is not None else None
    imported: list[str] = []
    skipped: list[str] = []
    try:
        if conversion.database_users:
            accounts = account_service(config_path, data_dir, create=True)
            imported, skipped = accounts.import_users(conversion.database_users)
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    if staged is not None and out is not None:
        staged.replace(out)
    notes = [n.as_dict() for n in conversion.notes]
    result: dict[str, Any] = {
        "out": str(out) if out else None,
        "notes": notes,
        "users_to_database": imported,
        "skipped_existing": skipped,
    }
    if as_json:
        if out is None:
            result["config"] = conversion.config
        click.echo(json.dumps(result, indent=2))
        return
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out}")
    if imported or skipped:
        click.echo(
            f"imported {len(imported)} user(s) into the database"
            + (f"; skipped {len(skipped)} existing: {', '.join(skipped)}" if skipped else ""),
            err=out is None,
        )
    _print_notes(notes, err=out is None)


@import_.command("keycloak")
@click.argument("source", type=FILE)
@click.option(
    "--replace",
    is_flag=True,
    help="Update users that exist already (hash, email, enabled, groups) instead of skipping them.",
)
@state_options
@json_option
@reports_account_errors
def import_keycloak(
    source: Path,
    replace: bool,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Import a Keycloak realm export's users with their passwords, all or nothing.

    PBKDF2 hashes are verified at each user's next login and then replaced by argon2id.
    """
    from regauth.importers import UnreadableFile, read_realm_export

    try:
        realm = read_realm_export(_read(source))
    except UnreadableFile as exc:
        fail(f"{source}: {exc}")
    created, skipped = account_service(config_path, data_dir, create=True).import_users(
        realm.accounts, replace=replace
    )
    notes = [n.as_dict() for n in realm.notes]
    if realm.docker_clients:
        prefix = f"/realms/{realm.realm}/protocol/docker-v2"
        notes.append(
            {
                "key": "clients",
                "what": "set token.service: "
                f"[{', '.join(realm.docker_clients)}] and, to keep the registry's realm "
                f"URL, server.path_prefix: {prefix} (see the README)",
            }
        )
    result = {"realm": realm.realm, "imported": created, "skipped": skipped, "notes": notes}

    def show() -> None:
        click.echo(
            f"imported {len(created)} user(s) from realm {realm.realm or '?'}"
            + (f"; skipped {len(skipped)} existing: {', '.join(skipped)}" if skipped else "")
        )
        if notes:
            _print_notes(notes, err=False)

    emit(result, as_json, show)
