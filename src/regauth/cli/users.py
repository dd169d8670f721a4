"""The ``regauth user`` commands: add, passwd, disable, enable, delete, list, show, label,
import.

Every command goes through :class:`regauth.accounts.AccountService`, as the admin API does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from regauth.accounts import ImportedAccount
from regauth.cli.common import (
    account_service,
    emit,
    fail,
    json_option,
    main,
    print_table,
    read_password,
    reports_account_errors,
    short_time,
    state_options,
)


@main.group()
def user() -> None:
    """Database users."""


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _user_table(users: list[dict[str, Any]]) -> None:
    print_table(
        None,
        ["user", "enabled", "admin", "source", "groups", "email", "created"],
        [
            [
                u["username"],
                _yes_no(u["enabled"]),
                _yes_no(u["is_admin"]),
                u["source"],
                ", ".join(u["groups"]),
                u["email"],
                short_time(u["created_at"]),
            ]
            for u in users
        ],
    )


@user.command("add")
@click.argument("username")
@click.option("--email", default=None)
@click.option("--admin", "is_admin", is_flag=True, help="A regauth administrator.")
@click.option("--disabled", is_flag=True, help="Create the user disabled.")
@click.option("--no-password", is_flag=True, help="No password (single sign-on users).")
@state_options
@json_option
@reports_account_errors
def user_add(
    username: str,
    email: str | None,
    is_admin: bool,
    disabled: bool,
    no_password: bool,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create a user. The password is read from stdin, or asked for twice on a terminal."""
    accounts = account_service(config_path, data_dir)
    password = None if no_password else read_password()
    view = accounts.create_user(
        username, password=password, email=email, is_admin=is_admin, enabled=not disabled
    )
    emit(view.as_dict(), as_json, lambda: click.echo(f"created user {view.username}"))


@user.command("passwd")
@click.argument("username")
@state_options
@reports_account_errors
def user_passwd(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Set a user's password (stdin or prompt); their refresh tokens stop working."""
    accounts = account_service(config_path, data_dir)
    accounts.get_user(username)
    accounts.set_password(username, read_password("New password"))
    click.echo(f"password of {username} changed")


@user.command("disable")
@click.argument("username")
@state_options
@reports_account_errors
def user_disable(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Disable a user: no new tokens, refresh tokens revoked."""
    account_service(config_path, data_dir).set_enabled(username, False)
    click.echo(f"user {username} disabled")


@user.command("enable")
@click.argument("username")
@state_options
@reports_account_errors
def user_enable(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Enable a disabled user."""
    account_service(config_path, data_dir).set_enabled(username, True)
    click.echo(f"user {username} enabled")


@user.command("delete")
@click.argument("username")
@state_options
@reports_account_errors
def user_delete(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete a user with their grants, tokens and memberships."""
    account_service(config_path, data_dir).delete_user(username)
    click.echo(f"user {username} deleted")


@user.command("list")
@state_options
@json_option
@reports_account_errors
def user_list(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """List users."""
    users = [u.as_dict() for u in account_service(config_path, data_dir).list_users()]
    emit(users, as_json, lambda: _user_table(users))


@user.command("show")
@click.argument("username")
@state_options
@json_option
@reports_account_errors
def user_show(
    username: str, config_path: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """Show one user, with their labels."""
    found = account_service(config_path, data_dir).get_user(username).as_dict()

    def show() -> None:
        _user_table([found])
        click.echo(f"labels: {_labels_text(found['labels'])}")

    emit(found, as_json, show)


def _labels_text(labels: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}={','.join(v)}" for k, v in labels.items()) or "-"


def _parse_label_args(assignments: tuple[str, ...]) -> dict[str, list[str]]:
    """``KEY=VALUE[,VALUE]`` arguments; a key given twice gathers the values of both."""
    labels: dict[str, list[str]] = {}
    for item in assignments:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            fail(f"label {item[:80]!r}: expected KEY=VALUE[,VALUE...]")
        labels.setdefault(key, []).extend(v for v in values.split(",") if v)
    return labels


@user.command("label")
@click.argument("username")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE[,VALUE]...")
@click.option("--remove", "remove", multiple=True, metavar="KEY", help="Remove a label key.")
@state_options
@json_option
@reports_account_errors
def user_label(
    username: str,
    assignments: tuple[str, ...],
    remove: tuple[str, ...],
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Set labels (KEY=VALUE[,VALUE], replacing the key's values) or --remove KEY.

    ACL rules read them as ${labels:KEY} and match: {labels: {KEY: ...}}; the change applies
    to the user's next token. Without arguments, print the labels.
    """
    accounts = account_service(config_path, data_dir)
    if not assignments and not remove:
        labels = accounts.get_user(username).labels
    else:
        labels = accounts.change_labels(
            username, set_labels=_parse_label_args(assignments), remove=remove
        )
    emit(labels, as_json, lambda: click.echo(f"labels of {username}: {_labels_text(labels)}"))


def _read_import(htpasswd: Path | None, docker_auth: Path | None) -> list[ImportedAccount]:
    from regauth.authn.htpasswd import parse_htpasswd
    from regauth.importers import UnreadableFile, read_docker_auth, users_of

    if (htpasswd is None) == (docker_auth is None):
        fail("give one of --htpasswd FILE or --docker-auth FILE")
    source = htpasswd or docker_auth
    assert source is not None
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}")
    if htpasswd is not None:
        parsed = parse_htpasswd(text)
        if parsed.malformed:
            fail(f"{htpasswd}: line {parsed.malformed[0]} is not user:hash")
        if parsed.unsupported:
            line, name = parsed.unsupported[0]
            fail(f"{htpasswd}: line {line} ({name}): only bcrypt entries can be imported")
        return [
            ImportedAccount(name, encoded) for name, encoded in parsed.hashes.items() if encoded
        ]
    try:
        document = read_docker_auth(text)
        users = users_of(document)
    except UnreadableFile as exc:
        fail(f"{docker_auth}: {exc}")
    if not users:
        fail(f"{docker_auth}: no users section")
    return users


@user.command("import")
@click.option(
    "--htpasswd",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An Apache htpasswd file with bcrypt entries.",
)
@click.option(
    "--docker-auth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A docker_auth configuration; its users section is imported, labels included.",
)
@click.option("--replace", is_flag=True, help="Replace the password hash of existing users.")
@state_options
@json_option
@reports_account_errors
def user_import(
    htpasswd: Path | None,
    docker_auth: Path | None,
    replace: bool,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Import users with their bcrypt hashes (and docker_auth labels), all or nothing."""
    entries = _read_import(htpasswd, docker_auth)
    created, skipped = account_service(config_path, data_dir).import_users(entries, replace=replace)
    result = {"imported": created, "skipped": skipped}
    emit(
        result,
        as_json,
        lambda: click.echo(
            f"imported {len(created)} user(s)"
            + (f"; skipped {len(skipped)} existing: {', '.join(skipped)}" if skipped else "")
        ),
    )
