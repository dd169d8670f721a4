"""The ``regauth group`` commands: add, delete, add-member, remove-member, list.

Every command goes through :class:`regauth.accounts.AccountService`, as the admin API does.
"""

from __future__ import annotations

from pathlib import Path

import click

from regauth.cli.common import (
    account_service,
    emit,
    json_option,
    main,
    print_table,
    reports_account_errors,
    state_options,
)


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
