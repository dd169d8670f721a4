"""Tables fit 80 columns when not on a terminal: a long cell wraps onto more lines, never cut
off with an ellipsis; ``--json`` keeps every value whole."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from regauth.cli import main

LONG_REPOSITORY = "team/a-rather-long-repository-name/with/several/segments"
LONG_AGENT_ADDRESS = "2001:db8:1234:5678:9abc:def0:1234:5678"


def _run(data: Path, *args: str, input: str | None = None) -> Any:
    return CliRunner(env={"COLUMNS": None}).invoke(
        main, [*args, "--data-dir", str(data)], input=input, catch_exceptions=False
    )


def _column(output: str, index: int) -> str:
    """Column ``index`` of the audit table, its wrapped lines joined (spaces dropped): the
    columns start where the header's last line has its words."""
    lines = output.splitlines()[1:]  # the header's second line ("time (UTC)" wraps)
    starts = [i for i, c in enumerate(lines[0]) if c != " " and (i == 0 or lines[0][i - 1] == " ")]
    start = starts[index]
    end = starts[index + 1] if index + 1 < len(starts) else None
    body = lines[2:]
    return "".join(line[start:end] for line in body).replace(" ", "")


def test_audit_and_listing_tables_wrap_within_80_columns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert _run(data, "user", "add", "bob", input="pw\n").exit_code == 0
    _run(
        data, "grant", "add", "--user", "bob", "--pattern", LONG_REPOSITORY + "/*", "--role", "push"
    )
    scopes = json.dumps([["repository", LONG_REPOSITORY, "pull,push", "pull", "grant#1"]])
    with sqlite3.connect(data / "regauth.db") as db:
        db.execute(
            "INSERT INTO audit_events (at, client_ip, account, method, status, outcome, reason,"
            " scopes, repositories) VALUES ('2026-12-04 10:00:00.000000', ?, 'bob', 'database',"
            " 200, 'partial', 'push not granted on this repository', ?, ?)",
            (LONG_AGENT_ADDRESS, scopes, f" {LONG_REPOSITORY} "),
        )
    for command in (["audit"], ["grant", "list"], ["user", "list"]):
        result = _run(data, *command)
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.output.splitlines()) <= 80, result.output
        assert "…" not in result.output
    audit = _run(data, "audit").output  # the header "time (UTC)" wraps: scopes is column 5
    assert _column(audit, 5) == f"repository:{LONG_REPOSITORY}pull,push->pull", audit
    assert _column(audit, 6) == LONG_AGENT_ADDRESS, audit
    assert _column(audit, 7) == "pushnotgrantedonthisrepository", audit
    (event,) = json.loads(_run(data, "audit", "--json").output)
    assert event["scopes"][0]["name"] == LONG_REPOSITORY
    assert event["client_ip"] == LONG_AGENT_ADDRESS
    grants = json.loads(_run(data, "grant", "list", "--json").output)
    assert grants[0]["pattern"] == LONG_REPOSITORY + "/*"
