"""``regauth audit``: query the trail of token decisions."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from regauth.cli.common import emit, fail, json_option, load, main, print_table, state_options


def _moment(text: str | None, now: datetime.datetime, option: str) -> datetime.datetime | None:
    """``1h``/``7d`` (that long ago), or an ISO 8601 date or time (UTC unless it says)."""
    from regauth.durations import parse_moment as parse

    if text is None:
        return None
    try:
        return parse(text, now)
    except ValueError as exc:
        fail(f"{option}: {exc}")


@main.command()
@click.option("--account", default=None, help='Account name ("" for anonymous).')
@click.option("--repository", default=None, help="Repository name, e.g. team/app.")
@click.option(
    "--outcome", type=click.Choice(["granted", "partial", "denied", "rejected", "throttled"])
)
@click.option("--since", default=None, help="1h, 7d, or a date/time.")
@click.option("--until", default=None, help="1h, 7d, or a date/time.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@state_options
@json_option
def audit(
    account: str | None,
    repository: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show token decisions, newest first."""
    from regauth.audit import AuditFilter, query_audit
    from regauth.clock import utcnow
    from regauth.runtime import StartupError, open_database

    now = utcnow()
    filters = AuditFilter(
        account=account,
        repository=repository,
        outcome=outcome,
        since=_moment(since, now, "--since"),
        until=_moment(until, now, "--until"),
        limit=limit,
    )
    config, directory = load(config_path, data_dir)
    try:
        database = open_database(config, directory)
    except StartupError as exc:
        fail(str(exc))
    try:
        events = query_audit(database, filters)
    finally:
        database.dispose()

    def table() -> None:
        rows: list[list[Any]] = []
        for e in events:
            scopes = "; ".join(
                f"{s['type']}:{s['name']} {','.join(s['requested'])}"
                f" -> {','.join(s['granted']) or '-'}"
                for s in e["scopes"]
            )
            rows.append(
                [
                    e["at"].replace("T", " ")[:19],
                    e["outcome"],
                    e["status"],
                    e["account"] if e["account"] is not None else "-",
                    e["method"] or "-",
                    scopes or "-",
                    e["client_ip"] or "-",
                    e["reason"] or "",
                ]
            )
        print_table(
            None,
            ["time (UTC)", "outcome", "status", "account", "method", "scopes", "client", "reason"],
            rows,
        )

    emit(events, as_json, table)
