"""The ``regauth session`` commands: sign-in sessions of the web console (kind browser) and of
machines signed in with the device sign-in (kind device): list them with their last use, end
one, or end all of a user's."""

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
    print_table,
    reports_account_errors,
    short_time,
    state_options,
)


@main.group()
def session() -> None:
    """Sign-in sessions: the web console's and signed-in machines'."""


def _table(sessions: list[dict[str, Any]]) -> None:
    print_table(
        None,
        ["id", "user", "kind", "machine / browser", "address", "signed in", "last used",
         "expires", "ended"],
        [
            [
                s["id"],
                s["user"],
                s["kind"],
                (s["client_name"] or s["user_agent"] or "-")[:40],
                s["address"] or "-",
                short_time(s["created_at"]),
                short_time(s["last_seen_at"]),
                short_time(s["expires_at"]),
                short_time(s["revoked_at"]),
            ]
            for s in sessions
        ],
    )  # fmt: skip


@session.command("list")
@click.option("--user", "username", default=None)
@click.option("--kind", type=click.Choice(["browser", "device"]), default=None)
@click.option("--all", "include_ended", is_flag=True, help="Also the ended ones of the last week.")
@state_options
@json_option
@reports_account_errors
def session_list(
    username: str | None,
    kind: str | None,
    include_ended: bool,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List sessions with their last use, newest first."""
    sessions = [
        s.as_dict()
        for s in account_service(config_path, data_dir).list_console_sessions(
            username, include_ended=include_ended, kind=kind
        )
    ]
    emit(sessions, as_json, lambda: _table(sessions))


@session.command("end")
@click.argument("session_id", type=ROW_ID, required=False)
@click.option("--user", "username", default=None, help="End all of this user's sessions.")
@state_options
@reports_account_errors
def session_end(
    session_id: int | None, username: str | None, config_path: Path | None, data_dir: Path | None
) -> None:
    """End one session by id, or every session of a user with --user (machines included)."""
    if (session_id is None) == (username is None):
        fail("give a session id or --user USER")
    accounts = account_service(config_path, data_dir)
    if session_id is not None:
        accounts.end_console_session(session_id)
        click.echo(f"session {session_id} ended")
    else:
        assert username is not None
        count = accounts.end_console_sessions_of(username)
        click.echo(f"ended {count} session(s) of {username}")
