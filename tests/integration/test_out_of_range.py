"""Inputs that overflow or fall out of range: the CLI exits 2 with one line on stderr, the admin
API answers 400 naming the field; never a traceback, never a 500, nothing written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from regauth.cli import main
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory

HUGE = "99999999999999999999999"


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Any]:
    data_dir = str(tmp_path / "data")
    (tmp_path / "data").mkdir()  # as `regauth serve` would have

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main, [*args, "--data-dir", data_dir], input=input, catch_exceptions=False
        )

    return invoke


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        # durations and dates (issue 10: both ended in an OverflowError traceback)
        (
            ["token", "create", "--user", "alice", "--name", "x", "--expires", "99999999999d"],
            "--expires: duration '99999999999d' is longer than 36500d (100 years)",
        ),
        (
            ["token", "create", "--user", "alice", "--name", "x", "--expires", "9999-12-31"],
            "--expires: the expiry is more than 100 years away",
        ),
        (
            [
                "token",
                "create",
                "--user",
                "alice",
                "--name",
                "x",
                "--expires",
                "9999-12-31T23:59:59-05:00",
            ],
            "--expires: the expiry is more than 100 years away",
        ),
        (
            ["token", "create", "--user", "alice", "--name", "x", "--expires", "0s"],
            "--expires: the expiry must be in the future",
        ),
        (["robot", "create", "ci", "--expires", "99999999999w"], "--expires: duration"),
        (["audit", "--since", "99999999999d"], "--since: duration '99999999999d' is longer"),
        (["audit", "--until", "99999999999d"], "--until: duration"),
        (["audit", "--since", "0001-01-01T00:00:00+01:00"], "--since: time out of range"),
        (["audit", "--until", "9999-12-31T23:59:59-01:00"], "--until: time out of range"),
        (["audit", "--since", "-5d"], "--since: not a time"),
        # counts and limits
        (["audit", "--limit", HUGE], "'--limit': 99999999999999999999999 is not in the range"),
        (["audit", "--limit", "0"], "is not in the range 1<=x<=10000"),
        (["audit", "--limit", "-1"], "--limit"),
        (["serve", "--workers", HUGE], "'--workers'"),
        # ids (a huge one overflowed SQLite's integer: a traceback)
        (["token", "revoke", HUGE], f"'{HUGE}' is not an id"),
        (["token", "revoke", "0"], "'0' is not an id"),
        (["token", "revoke", "1.5"], "'1.5' is not an id"),
        (["grant", "remove", HUGE], "is not an id"),
        (["refresh-token", "revoke", HUGE], "is not an id"),
        (["refresh-token", "revoke", str(2**63)], "is not an id"),
        # addresses
        (["serve", "--listen", "127.0.0.1:99999"], "port out of range"),
    ],
)
def test_cli_out_of_range_is_exit_2_and_one_line(
    run: Callable[..., Any], args: list[str], fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGAUTH_SERVER__LISTEN", raising=False)  # serve --listen sets it
    run("user", "add", "alice", input="pw\n")
    result = run(*args, input="pw\n")
    os.environ.pop("REGAUTH_SERVER__LISTEN", None)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("regauth: ")
    assert fragment in lines[0]
    assert run("token", "list", "--json").output.strip() == "[]"  # nothing written


def test_bcrypt_cost_out_of_range() -> None:
    result = CliRunner().invoke(main, ["hash-password", "--cost", "99"], input="pw\n")
    assert result.exit_code == 2
    assert (
        result.output == "regauth: Invalid value for '--cost': 99 is not in the range 4<=x<=31.\n"
    )


def test_usage_errors_are_one_line_too(run: Callable[..., Any]) -> None:
    for args in (["nosuch"], ["token", "create", "--user", "alice"], ["audit", "--bogus"]):
        result = run(*args)
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("regauth: ")


def test_largest_id_is_a_lookup(run: Callable[..., Any]) -> None:
    result = run("token", "revoke", str(2**63 - 1))
    assert result.exit_code == 2
    assert result.output.strip() == f"regauth: no such token: {2**63 - 1}"


# ---------------------------------------------------------------------------------- admin API


@pytest.fixture
def api(make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient]) -> Any:
    runtime: Runtime = make_runtime({})
    runtime.accounts.create_user("root", is_admin=True)
    runtime.accounts.create_user("bob")
    token = runtime.accounts.create_token("root", "admin api").secret
    client = client_for(runtime)
    client.headers["authorization"] = f"Bearer {token}"
    return client


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("DELETE", f"/tokens/{HUGE}", None, "path.token_id"),
        ("DELETE", f"/grants/{HUGE}", None, "path.grant_id"),
        ("DELETE", f"/refresh-tokens/{HUGE}", None, "path.token_id"),
        ("DELETE", "/tokens/0", None, "path.token_id"),
        ("DELETE", "/tokens/-1", None, "path.token_id"),
        ("GET", f"/audit?limit={HUGE}", None, "query.limit"),
        ("GET", "/audit?limit=0", None, "query.limit"),
        ("GET", "/audit?since=0001-01-01T00:00:00%2B01:00", None, "query.since: out of range"),
        ("GET", "/audit?until=9999-12-31T23:59:59-01:00", None, "query.until: out of range"),
        (
            "POST",
            "/tokens",
            {"user": "bob", "name": "t", "expires_in": "99999999999d"},
            "body.expires_in: duration '99999999999d' is longer than 36500d",
        ),
        (
            "POST",
            "/tokens",
            {"user": "bob", "name": "t", "expires_in": "9" * 32},
            "body.expires_in",
        ),
        (
            "POST",
            "/tokens",
            {"user": "bob", "name": "t", "expires_at": "9999-12-31"},
            "body.expires_at: the expiry is more than 100 years away",
        ),
        ("POST", "/robots", {"name": "r", "expires_in": "99999999999w"}, "body.expires_in"),
        (
            "POST",
            "/robots",
            {"name": "r", "expires_at": "0001-01-01T00:00:00+05:00"},
            "body.expires_at: out of range",
        ),
    ],
)
async def test_api_out_of_range_is_400_naming_the_field(
    api: Any, method: str, path: str, body: Any, fragment: str
) -> None:
    response = await api.request(method, "/api/v1" + path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert fragment in response.json()["message"]
    assert (await api.get("/api/v1/tokens?user=bob")).json() == []
    assert (await api.get("/api/v1/robots")).json() == []
