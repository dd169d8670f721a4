"""The ``regauth token`` commands (personal access tokens: create, list, revoke) and the
``regauth refresh-token`` commands (list, revoke).

Every command goes through :class:`regauth.accounts.AccountService`, as the admin API does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from regauth.cli.common import (
    ROW_ID,
    account_service,
    emit,
    fail,
    json_option,
    main,
    parse_expires,
    print_table,
    reports_account_errors,
    short_time,
    state_options,
)


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
        expires_at=parse_expires(expires),
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
@click.argument("token_id", type=ROW_ID)
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
@click.argument("token_id", type=ROW_ID, required=False)
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
