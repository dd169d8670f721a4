"""Account administration: users, groups, grants, robots, personal access and refresh tokens.

Every command goes through :class:`regauth.accounts.AccountService`, as the admin API does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from regauth.cli.common import (
    account_service,
    emit,
    fail,
    json_option,
    main,
    print_table,
    read_password,
    short_time,
    state_options,
)

F = TypeVar("F", bound=Callable[..., Any])


def reports_account_errors(function: F) -> F:
    """Turn an AccountError into one line on stderr and exit status 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from regauth.accounts import AccountError

        try:
            return function(*args, **kwargs)
        except AccountError as exc:
            fail(exc.message)

    return wrapper  # type: ignore[return-value]


def _expiry(text: str | None) -> Any:
    from regauth.clock import utcnow
    from regauth.credentials import parse_expiry

    try:
        return parse_expiry(text, utcnow())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# ----------------------------------------------------------------------------- users


@main.group()
def user() -> None:
    """Database users."""


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
    """Show one user."""
    found = account_service(config_path, data_dir).get_user(username).as_dict()
    emit(found, as_json, lambda: _user_table([found]))


def _read_import(htpasswd: Path | None, docker_auth: Path | None) -> list[tuple[str, str]]:
    import yaml

    from regauth.authn.htpasswd import parse_htpasswd

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
        return [(name, encoded) for name, encoded in parsed.hashes.items() if encoded]
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        fail(f"{docker_auth}: not valid YAML")
    users = document.get("users") if isinstance(document, dict) else None
    if not isinstance(users, dict):
        fail(f"{docker_auth}: no users section")
    entries = []
    for name, spec in users.items():
        if name == "":
            continue  # docker_auth's anonymous entry
        password = spec.get("password") if isinstance(spec, dict) else None
        if not isinstance(password, str):
            fail(f"{docker_auth}: users.{name}: no password hash")
        entries.append((str(name), password))
    return entries


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
    help="A docker_auth configuration; its users section is imported.",
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
    """Import users with their bcrypt hashes, all or nothing."""
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


# ---------------------------------------------------------------------------- groups


@main.group()
def group() -> None:
    """Groups of users."""


@group.command("add")
@click.argument("name")
@click.option("--description", default=None)
@state_options
@reports_account_errors
def group_add(
    name: str, description: str | None, config_path: Path | None, data_dir: Path | None
) -> None:
    """Create a group."""
    account_service(config_path, data_dir).create_group(name, description=description)
    click.echo(f"created group {name}")


@group.command("delete")
@click.argument("name")
@state_options
@reports_account_errors
def group_delete(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete a group and its grants."""
    account_service(config_path, data_dir).delete_group(name)
    click.echo(f"group {name} deleted")


@group.command("add-member")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
@state_options
@reports_account_errors
def group_add_member(
    name: str, usernames: tuple[str, ...], config_path: Path | None, data_dir: Path | None
) -> None:
    """Add users to a group."""
    accounts = account_service(config_path, data_dir)
    for username in usernames:
        accounts.add_member(name, username)
    click.echo(f"added {', '.join(usernames)} to {name}")


@group.command("remove-member")
@click.argument("name")
@click.argument("username")
@state_options
@reports_account_errors
def group_remove_member(
    name: str, username: str, config_path: Path | None, data_dir: Path | None
) -> None:
    """Remove a user from a group."""
    account_service(config_path, data_dir).remove_member(name, username)
    click.echo(f"removed {username} from {name}")


@group.command("list")
@state_options
@json_option
@reports_account_errors
def group_list(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """List groups and their members."""
    groups = [g.as_dict() for g in account_service(config_path, data_dir).list_groups()]
    emit(
        groups,
        as_json,
        lambda: print_table(
            None,
            ["group", "source", "members", "description"],
            [[g["name"], g["source"], ", ".join(g["members"]), g["description"]] for g in groups],
        ),
    )


# ---------------------------------------------------------------------------- grants


@main.group()
def grant() -> None:
    """Roles (pull, push, delete, admin) on repository patterns."""


def _grant_rows(grants: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            g["id"],
            g["subject_type"],
            g["subject"] or "(anonymous)",
            g["role"],
            g["pattern"],
            g["created_by"],
            short_time(g["created_at"]),
        ]
        for g in grants
    ]


@grant.command("add")
@click.option("--user", "username", default=None)
@click.option("--group", "group_name", default=None)
@click.option("--robot", "robot_name", default=None)
@click.option("--public", is_flag=True, help="Anonymous pull (role pull only).")
@click.option("--pattern", required=True, help="team/app, team/* or *.")
@click.option("--role", required=True, type=click.Choice(["pull", "push", "delete", "admin"]))
@state_options
@json_option
@reports_account_errors
def grant_add(
    username: str | None,
    group_name: str | None,
    robot_name: str | None,
    public: bool,
    pattern: str,
    role: str,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Grant a role on a repository pattern to a user, group, robot, or the public.

    push includes pull, delete includes pull, admin is all three. In patterns * also
    matches /: team/* covers team/app/sub.
    """
    view = account_service(config_path, data_dir).add_grant(
        user=username,
        group=group_name,
        robot=robot_name,
        public=public,
        pattern=pattern,
        role=role,
        created_by="cli",
    )
    emit(
        view.as_dict(),
        as_json,
        lambda: click.echo(
            f"grant {view.id}: {view.subject_type} {view.subject or ''} {view.role} on "
            f"{view.pattern}".replace("  ", " ")
        ),
    )


@grant.command("remove")
@click.argument("grant_id", type=int)
@state_options
@reports_account_errors
def grant_remove(grant_id: int, config_path: Path | None, data_dir: Path | None) -> None:
    """Remove a grant by its id (see grant list)."""
    account_service(config_path, data_dir).remove_grant(grant_id)
    click.echo(f"grant {grant_id} removed")


@grant.command("list")
@click.option("--user", "username", default=None)
@click.option("--group", "group_name", default=None)
@click.option("--robot", "robot_name", default=None)
@state_options
@json_option
@reports_account_errors
def grant_list(
    username: str | None,
    group_name: str | None,
    robot_name: str | None,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List grants."""
    grants = [
        g.as_dict()
        for g in account_service(config_path, data_dir).list_grants(
            user=username, group=group_name, robot=robot_name
        )
    ]
    emit(
        grants,
        as_json,
        lambda: print_table(
            None,
            ["id", "subject type", "subject", "role", "pattern", "by", "created"],
            _grant_rows(grants),
        ),
    )


# ---------------------------------------------------------------------------- robots


@main.group()
def robot() -> None:
    """Robot accounts for CI: log in as robot+NAME with the secret."""


def _parse_robot_grants(values: tuple[str, ...]) -> list[tuple[str, str]]:
    grants = []
    for value in values:
        pattern, sep, role = value.rpartition("=")
        if not sep or not pattern:
            raise click.BadParameter(f"expected PATTERN=ROLE, got {value!r}", param_hint="--grant")
        grants.append((pattern, role))
    return grants


@robot.command("create")
@click.argument("name")
@click.option("--description", default=None)
@click.option("--expires", default=None, help="30d, 12h, a date such as 2027-01-31, or never.")
@click.option("--grant", "grants", multiple=True, help="PATTERN=ROLE, e.g. 'team/*=push'.")
@state_options
@json_option
@reports_account_errors
def robot_create(
    name: str,
    description: str | None,
    expires: str | None,
    grants: tuple[str, ...],
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create a robot; its secret is shown only now."""
    created = account_service(config_path, data_dir).create_robot(
        name,
        description=description,
        expires_at=_expiry(expires),
        grants=_parse_robot_grants(grants),
        created_by="cli",
    )
    view = created.view
    emit(
        created.as_dict(),
        as_json,
        lambda: click.echo(
            f"created robot {name}; log in with (the secret is shown only once):\n"
            f"  username: {view.username}\n  password: {created.secret}"
        ),
    )


@robot.command("list")
@state_options
@json_option
@reports_account_errors
def robot_list(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """List robots with their last use."""
    robots = [r.as_dict() for r in account_service(config_path, data_dir).list_robots()]
    emit(
        robots,
        as_json,
        lambda: print_table(
            None,
            ["robot", "login", "grants", "expires", "revoked", "last used"],
            [
                [
                    r["name"],
                    r["username"],
                    "; ".join(r["grants"]),
                    short_time(r["expires_at"]),
                    short_time(r["revoked_at"]),
                    short_time(r["last_used_at"]),
                ]
                for r in robots
            ],
        ),
    )


@robot.command("revoke")
@click.argument("name")
@state_options
@reports_account_errors
def robot_revoke(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Revoke a robot: its secret stops working at once."""
    account_service(config_path, data_dir).revoke_robot(name)
    click.echo(f"robot {name} revoked")


@robot.command("delete")
@click.argument("name")
@state_options
@reports_account_errors
def robot_delete(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete a robot and its grants."""
    account_service(config_path, data_dir).delete_robot(name)
    click.echo(f"robot {name} deleted")


# ---------------------------------------------------------------------------- tokens


@main.group()
def token() -> None:
    """Personal access tokens, usable as the docker password."""


def _token_table(tokens: list[dict[str, Any]]) -> None:
    print_table(
        None,
        ["id", "user", "name", "token", "limited to", "expires", "revoked", "last used"],
        [
            [
                t["id"],
                t["user"],
                t["name"],
                t["hint"],
                "; ".join(
                    filter(
                        None, [", ".join(t["repositories"] or []), ", ".join(t["actions"] or [])]
                    )
                )
                or "-",
                short_time(t["expires_at"]),
                short_time(t["revoked_at"]),
                short_time(t["last_used_at"]),
            ]
            for t in tokens
        ],
    )


@token.command("create")
@click.option("--user", "username", required=True)
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires", default=None, help="30d, 12h, a date such as 2027-01-31, or never.")
@click.option("--read-only", is_flag=True, help="Pull only.")
@click.option("--actions", default=None, help="Limit to these actions, e.g. pull,push.")
@click.option(
    "--repository",
    "repositories",
    multiple=True,
    help="Limit to repositories matching this pattern (repeatable), e.g. 'team/*'.",
)
@state_options
@json_option
@reports_account_errors
def token_create(
    username: str,
    name: str,
    expires: str | None,
    read_only: bool,
    actions: str | None,
    repositories: tuple[str, ...],
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create a personal access token; it is shown only now."""
    if read_only and actions is not None:
        fail("give --read-only or --actions, not both")
    limit = (
        ["pull"]
        if read_only
        else ([a.strip() for a in actions.split(",") if a.strip()] if actions is not None else None)
    )
    created = account_service(config_path, data_dir).create_token(
        username,
        name,
        expires_at=_expiry(expires),
        repositories=list(repositories) or None,
        actions=limit,
    )
    emit(
        created.as_dict(),
        as_json,
        lambda: click.echo(
            f"created token {created.view.id} for {username} (shown only once):\n"
            f"  {created.secret}\n"
            f"use it as the password: docker login -u {username} --password-stdin REGISTRY"
        ),
    )


@token.command("list")
@click.option("--user", "username", default=None)
@state_options
@json_option
@reports_account_errors
def token_list(
    username: str | None, config_path: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """List personal access tokens with their last use."""
    tokens = [t.as_dict() for t in account_service(config_path, data_dir).list_tokens(username)]
    emit(tokens, as_json, lambda: _token_table(tokens))


@token.command("revoke")
@click.argument("token_id", type=int)
@state_options
@reports_account_errors
def token_revoke(token_id: int, config_path: Path | None, data_dir: Path | None) -> None:
    """Revoke a token: it stops working at once, on every instance."""
    account_service(config_path, data_dir).revoke_token(token_id)
    click.echo(f"token {token_id} revoked")


# -------------------------------------------------------------------- refresh tokens


@main.group("refresh-token")
def refresh_token() -> None:
    """Refresh tokens (docker login's identity tokens)."""


@refresh_token.command("list")
@click.option("--user", "username", default=None)
@state_options
@json_option
@reports_account_errors
def refresh_token_list(
    username: str | None, config_path: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """List refresh tokens."""
    tokens = [
        t.as_dict() for t in account_service(config_path, data_dir).list_refresh_tokens(username)
    ]
    emit(
        tokens,
        as_json,
        lambda: print_table(
            None,
            ["id", "user", "client", "created", "last used", "expires", "revoked"],
            [
                [
                    t["id"],
                    t["user"],
                    t["client_id"],
                    short_time(t["created_at"]),
                    short_time(t["last_used_at"]),
                    short_time(t["expires_at"]),
                    short_time(t["revoked_at"]),
                ]
                for t in tokens
            ],
        ),
    )


@refresh_token.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--user", "username", default=None, help="Revoke all of this user's.")
@state_options
@reports_account_errors
def refresh_token_revoke(
    token_id: int | None, username: str | None, config_path: Path | None, data_dir: Path | None
) -> None:
    """Revoke one refresh token by id, or all of a user's with --user."""
    count = account_service(config_path, data_dir).revoke_refresh_tokens(
        token_id=token_id, username=username
    )
    click.echo(f"revoked {count} refresh token(s)")
