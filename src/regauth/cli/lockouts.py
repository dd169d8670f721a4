"""The ``regauth lockout`` commands: the guessing limits' blocks, listed and lifted.

They read and clear the counters every worker and instance shares (through
:class:`regauth.accounts.AccountService`, as the admin API's ``/lockouts`` does), so a block
lifted here is lifted everywhere at the next login attempt, with no restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from regauth.cli.common import (
    account_service,
    emit,
    json_option,
    main,
    reports_account_errors,
    short_time,
    state_options,
)

#: how the table names each kind of counter (JSON keeps the configuration's section names)
_KIND_NAMES = {
    "account": "account",
    "address": "address",
    "account_address": "account from address",
}


@main.group()
def lockout() -> None:
    """Blocks of the guessing limits (brute_force:): list them, lift them."""


def _table(counters: list[dict[str, Any]]) -> None:
    """The counters as a table that never shortens an account or an address (they are what
    ``lockout clear`` takes): a narrow terminal folds them instead."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("kind")
    table.add_column("account", overflow="fold")
    table.add_column("address", overflow="fold", min_width=17)
    table.add_column("failures", justify="right")
    table.add_column("blocked until")
    table.add_column("last failure")
    for c in counters:
        table.add_row(
            _KIND_NAMES.get(c["kind"], c["kind"]),
            c["account"] or "-",
            c["address"] or "-",
            str(c["failures"]),
            short_time(c["blocked_until"]) if c["blocked"] else "-",
            short_time(c["last_failure_at"]),
        )
    Console().print(table)


@lockout.command("list")
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="Also the counters that do not block now (below their threshold, or ended).",
)
@click.option(
    "--limit", type=int, default=1000, show_default=True, help="At most this many counters."
)
@state_options
@json_option
@reports_account_errors
def lockout_list(
    include_all: bool, limit: int, config_path: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """List the accounts and addresses whose logins are refused now (newest failure first):
    an account locked out, an address, or an account from one address."""
    service = account_service(config_path, data_dir)
    try:
        views = service.list_lockouts(include_all=include_all, limit=limit)
    finally:
        service.database.dispose()
    counters = [c.as_dict() for c in views]

    def table() -> None:
        if counters:
            _table(counters)
        else:
            click.echo("no failed logins counted" if include_all else "nothing is blocked")

    emit(counters, as_json, table)


@lockout.command("clear")
@click.argument("target", metavar="ACCOUNT|ADDRESS")
@state_options
@json_option
@reports_account_errors
def lockout_clear(
    target: str, config_path: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """Lift every block and count of an account (any case) or an address (IPv4, or an IPv6
    address or its /64: IPv6 clients are counted per /64). Clearing what has nothing counted
    is not an error."""
    service = account_service(config_path, data_dir)
    try:
        result = service.clear_lockouts(target)
    finally:
        service.database.dispose()
    if as_json:
        emit(result.as_dict(), True)
    elif result.cleared == 0:
        click.echo(f"nothing to clear: no failed logins counted for {result.kind} {result.key!r}")
    else:
        click.echo(
            f"cleared {result.cleared} counter(s) of {result.kind} {result.key!r} "
            f"({result.were_blocking} blocking)"
        )
