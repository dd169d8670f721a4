"""``regauth events`` and ``regauth repositories``: what the registry reported it did, and the
repository index kept from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from regauth.cli.audit import _moment
from regauth.cli.common import emit, fail, json_option, load, main, print_table, state_options


def _open(config_path: Path | None, data_dir: Path | None) -> Any:
    from regauth.runtime import StartupError, open_database

    config, directory = load(config_path, data_dir)
    try:
        return open_database(config, directory)
    except StartupError as exc:
        fail(str(exc))


@main.command()
@click.option("--repository", default=None, help="Repository name, e.g. team/app.")
@click.option("--actor", default=None, help='Who (the token subject; "" for anonymous).')
@click.option("--action", type=click.Choice(["push", "pull", "delete", "mount"]))
@click.option("--digest", default=None, help="A manifest or blob digest, sha256:...")
@click.option("--tag", default=None, help="A tag.")
@click.option("--since", default=None, help="1h, 7d, or a date/time.")
@click.option("--until", default=None, help="1h, 7d, or a date/time.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--cursor", default=None, help="Continue after a previous page (its 'next').")
@state_options
@json_option
def events(
    repository: str | None,
    actor: str | None,
    action: str | None,
    digest: str | None,
    tag: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show what the registry reported: pushes, pulls, deletes and mounts, newest first."""
    from regauth.activity import EventFilter, query_events
    from regauth.clock import utcnow

    now = utcnow()
    try:
        filters = EventFilter(
            repository=repository,
            actor=actor,
            action=action,
            digest=digest,
            tag=tag,
            since=_moment(since, now, "--since"),
            until=_moment(until, now, "--until"),
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:
        fail(str(exc))
    database = _open(config_path, data_dir)
    try:
        page = query_events(database, filters)
    finally:
        database.dispose()

    def table() -> None:
        rows = [
            [
                e["at"].replace("T", " ")[:19],
                e["action"],
                e["repository"] + (f":{e['tag']}" if e["tag"] else ""),
                (e["digest"] or "-")[:19],
                e["actor"] if e["actor"] is not None else "(anonymous)",
                e["client_addr"] or "-",
                e["user_agent"] or "-",
            ]
            for e in page.events
        ]
        print_table(
            None,
            ["time (UTC)", "action", "repository:tag", "digest", "actor", "client", "user agent"],
            rows,
        )

    emit(page.events, as_json, table)
    if page.next is not None:
        click.echo(f"# more: --cursor {page.next}", err=True)


@main.command()
@click.option("--prefix", default=None, help="Names starting with this, e.g. team/.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", default=None, help="Continue after a previous page (its 'next').")
@state_options
@json_option
def repositories(
    prefix: str | None,
    limit: int,
    cursor: str | None,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Show the repositories the registry reported on, most recently active first, with
    their last push and pull, counts and tags."""
    from regauth.activity import RepositoryFilter, list_repositories

    try:
        filters = RepositoryFilter(prefix=prefix, limit=limit, cursor=cursor)
    except ValueError as exc:
        fail(str(exc))
    database = _open(config_path, data_dir)
    try:
        page = list_repositories(database, filters)
    finally:
        database.dispose()

    def table() -> None:
        rows = [
            [
                r["name"],
                (r["last_push_at"] or "-").replace("T", " ")[:19],
                (r["last_pull_at"] or "-").replace("T", " ")[:19],
                r["pushes"],
                r["pulls"],
                " ".join(t["tag"] for t in r["tags"]) or "-",
            ]
            for r in page.repositories
        ]
        print_table(None, ["repository", "last push", "last pull", "pushes", "pulls", "tags"], rows)

    emit(page.repositories, as_json, table)
    if page.next is not None:
        click.echo(f"# more: --cursor {page.next}", err=True)
