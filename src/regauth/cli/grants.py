"""The ``regauth grant`` commands: add, remove, list (roles on repository patterns).

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
    json_option,
    main,
    print_table,
    reports_account_errors,
    short_time,
    state_options,
)


@main.group()
def grant() -> None:
    """Roles (pull, push, delete, admin) on repository patterns."""


_NO_SUBJECT = {"public": "(anonymous)", "authenticated": "(signed in)"}


def _grant_rows(grants: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            g["id"],
            g["subject_type"],
            g["subject"]
            or ("(signed in)" if g["subject_type"] == "authenticated" else "(anonymous)"),
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
@click.option(
    "--authenticated", is_flag=True, help="Every signed-in user (not robots, not anonymous)."
)
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
    authenticated: bool,
    pattern: str,
    role: str,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Grant a role on a repository pattern to a user, group, robot, the public, or every
    signed-in user.

    push includes pull, delete includes pull, admin is all three. In patterns * also
    matches /: team/* covers team/app/sub.
    """
    view = account_service(config_path, data_dir).add_grant(
        user=username,
        group=group_name,
        robot=robot_name,
        public=public,
        authenticated=authenticated,
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
@click.argument("grant_id", type=ROW_ID)
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
