"""The administrator's side of the guessing limits, in process against SQLite and PostgreSQL:
``regauth lockout list|clear`` and ``/api/v1/lockouts`` see the same counters the token endpoint
keeps, a cleared account or address really gets in again, bad targets are refused with one
line, and the background writer forgets counters that no longer count."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from regauth.cli import main
from regauth.clock import utcnow
from regauth.events import configure_logging
from regauth.runtime import Runtime
from regauth.store.models import LoginFailure
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]
API = "/api/v1"
#: for checks of input alone: what the store is makes no difference there
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def config(database_url: str) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "users": {
            "alice": {"password": bcrypt_hash("alice-pw")},
            "bob": {"password": bcrypt_hash("bob-pw")},
        },
        "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
        "brute_force": {
            "account_address": {"free_failures": 3, "delay": "60s"},
            "address": {"free_failures": 8, "delay": "60s"},
            "account": {"lockout_after": 5, "lockout_duration": "15m"},
            "forget_after": "1h",
        },
    }


@pytest.fixture
def runtime(make_runtime: RuntimeFactory, config: dict[str, Any]) -> Runtime:
    return make_runtime(config)


@pytest.fixture
def admin(runtime: Runtime, client_for: ClientFor) -> httpx.AsyncClient:
    runtime.accounts.create_user("root", is_admin=True)
    client = client_for(runtime, "192.0.2.250")
    secret = runtime.accounts.create_token("root", "lockouts").secret
    client.headers["authorization"] = f"Bearer {secret}"
    return client


async def login(client: httpx.AsyncClient, user: str, password: str) -> int:
    response = await client.get(
        "/auth", params={"scope": "repository:x:pull"}, auth=(user, password)
    )
    return response.status_code


async def lock_alice(runtime: Runtime, client_for: ClientFor) -> None:
    """Five failures from five addresses: the account lockout, and nothing else blocking."""
    for number in range(5):
        assert await login(client_for(runtime, f"198.51.100.{number}"), "Alice", "guess") == 401
    assert await login(client_for(runtime, "198.51.100.99"), "alice", "alice-pw") == 429


# ----------------------------------------------------------------------------- admin API


async def test_the_api_lists_and_lifts_an_account_lockout(
    runtime: Runtime, client_for: ClientFor, admin: httpx.AsyncClient
) -> None:
    await lock_alice(runtime, client_for)
    blocking = (await admin.get(f"{API}/lockouts")).json()
    assert [
        (c["kind"], c["account"], c["address"], c["failures"], c["blocked"]) for c in blocking
    ] == [("account", "alice", None, 5, True)]
    until = datetime.datetime.fromisoformat(blocking[0]["blocked_until"])
    assert datetime.timedelta(minutes=14) < until - utcnow() <= datetime.timedelta(minutes=15)
    everything = (await admin.get(f"{API}/lockouts", params={"all": "true"})).json()
    assert sorted((c["kind"], c["blocked"]) for c in everything) == sorted(
        [("account", True)] + [("account_address", False)] * 5 + [("address", False)] * 5
    )
    assert len((await admin.get(f"{API}/lockouts?all=true&limit=2")).json()) == 2

    stream = io.StringIO()
    configure_logging("info", "json", stream)
    cleared = await admin.delete(f"{API}/lockouts/ALICE")  # any case
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"kind": "account", "key": "alice", "cleared": 6, "were_blocking": 1}
    assert await login(client_for(runtime, "198.51.100.99"), "alice", "alice-pw") == 200
    assert (await admin.get(f"{API}/lockouts")).json() == []
    # the addresses' own counts stay: clearing an account clears what is counted for it
    left = (await admin.get(f"{API}/lockouts?all=true")).json()
    assert {c["kind"] for c in left} == {"address"}
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = [line for line in logged if line["event"] == "lockout cleared"]
    assert len(events) == 1
    assert (events[0]["admin"], events[0]["kind"], events[0]["key"]) == ("root", "account", "alice")
    assert events[0]["cleared"] == 6
    # nothing left to clear is no error: a script may clear twice
    again = await admin.delete(f"{API}/lockouts/alice")
    assert again.status_code == 200
    assert again.json()["cleared"] == 0


async def test_the_api_lifts_address_blocks_ipv4_and_ipv6_per_64(
    runtime: Runtime, client_for: ClientFor, admin: httpx.AsyncClient
) -> None:
    sprayer = client_for(runtime, "203.0.113.8")
    for number in range(9):  # password spraying: the address is blocked for everyone
        await login(sprayer, f"user{number}", "Summer2026!")
    assert await login(sprayer, "bob", "bob-pw") == 429
    blocking = (await admin.get(f"{API}/lockouts")).json()
    assert [(c["kind"], c["address"]) for c in blocking] == [("address", "203.0.113.8")]
    cleared = (await admin.delete(f"{API}/lockouts/203.0.113.8")).json()
    assert (cleared["kind"], cleared["cleared"], cleared["were_blocking"]) == ("address", 10, 1)
    assert await login(sprayer, "bob", "bob-pw") == 200

    for number in range(4):  # one account from one /64 (bob's login is cached now)
        await login(client_for(runtime, f"2001:db8:1:2::{number + 1}"), "alice", "guess")
    assert await login(client_for(runtime, "2001:db8:1:2::1"), "alice", "alice-pw") == 429
    blocking = (await admin.get(f"{API}/lockouts")).json()
    assert [(c["kind"], c["account"], c["address"]) for c in blocking] == [
        ("account_address", "alice", "2001:db8:1:2::/64")
    ]
    # any address of the /64 names it, and so does the /64 itself
    cleared = (await admin.delete(f"{API}/lockouts/2001:db8:1:2::abcd")).json()
    assert (cleared["key"], cleared["cleared"], cleared["were_blocking"]) == (
        "2001:db8:1:2::/64",
        2,
        1,
    )
    assert await login(client_for(runtime, "2001:db8:1:2::1"), "alice", "alice-pw") == 200
    assert (await admin.delete(f"{API}/lockouts/2001:db8:1:2::/64")).json()["cleared"] == 0


BAD_API_INPUT = [
    ("/lockouts/10.0.0.0/8", "is a network"),
    ("/lockouts/2001:db8::/48", "give one address or an IPv6 /64"),
    ("/lockouts/10.0.0.0/33", "not an IP address or network"),
    ("/lockouts/a%09b", "path.target"),
    ("/lockouts/%20", "path.target"),
    ("/lockouts/", "path.target"),
    ("/lockouts/" + "a" * 257, "path.target"),
    ("/lockouts?limit=0", "query.limit"),
    ("/lockouts?all=maybe", "query.all"),
]


@SQLITE_ONLY
async def test_the_api_refuses_bad_input_with_400(admin: httpx.AsyncClient) -> None:
    for path, fragment in BAD_API_INPUT:
        method = "GET" if "?" in path else "DELETE"
        response = await admin.request(method, API + path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"] == "invalid_request"
        assert fragment in response.json()["message"], path
    # a line break cannot be in a path the routes match: not found, and never a 500
    assert (await admin.delete(f"{API}/lockouts/a%0Ab")).status_code == 404


@SQLITE_ONLY
async def test_the_api_needs_an_administrator_and_documents_itself(
    runtime: Runtime, admin: httpx.AsyncClient, client_for: ClientFor
) -> None:
    stranger = client_for(runtime)
    assert (await stranger.get(f"{API}/lockouts")).status_code == 401
    assert (await stranger.delete(f"{API}/lockouts/alice")).status_code == 401
    document = (await stranger.get(f"{API}/openapi.json")).json()
    assert set(document["paths"]["/api/v1/lockouts"]) == {"get"}
    clear = document["paths"]["/api/v1/lockouts/{target}"]["delete"]
    assert set(clear["responses"]) >= {"200", "400", "401", "403"}
    assert {p["name"] for p in document["paths"]["/api/v1/lockouts"]["get"]["parameters"]} == {
        "all",
        "limit",
    }


# ---------------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(tmp_path: Path, config: dict[str, Any]) -> Callable[..., Any]:
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml.safe_dump(config))

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(
            main,
            [*args, "--config", str(path), "--data-dir", str(tmp_path / "data")],
            catch_exceptions=False,
            env={"COLUMNS": "160"},  # a wide terminal: one line per counter
        )

    return invoke


async def test_the_cli_lists_and_clears(
    runtime: Runtime, client_for: ClientFor, cli: Callable[..., Any]
) -> None:
    nothing = cli("lockout", "list")
    assert (nothing.exit_code, nothing.output) == (0, "nothing is blocked\n")
    await lock_alice(runtime, client_for)
    table = cli("lockout", "list")
    assert table.exit_code == 0, table.output
    assert "alice" in table.output and "account" in table.output
    assert "198.51.100" not in table.output  # those counters block nothing
    listed = json.loads(cli("lockout", "list", "--all", "--json").output)
    assert len(listed) == 11
    assert "account from address" in cli("lockout", "list", "--all").output

    cleared = cli("lockout", "clear", "Alice")
    assert cleared.exit_code == 0, cleared.output
    assert cleared.output == ("cleared 6 counter(s) of account 'alice' (1 blocking)\n")
    assert await login(client_for(runtime, "198.51.100.99"), "alice", "alice-pw") == 200
    again = cli("lockout", "clear", "alice")
    assert again.exit_code == 0
    assert again.output == "nothing to clear: no failed logins counted for account 'alice'\n"
    address = json.loads(cli("lockout", "clear", "198.51.100.3", "--json").output)
    assert address == {"kind": "address", "key": "198.51.100.3", "cleared": 1, "were_blocking": 0}


BAD_CLI_INPUT = [
    (["clear", "10.0.0.0/8"], "10.0.0.0/8 is a network"),
    (["clear", "fe80::/10"], "give one address or an IPv6 /64"),
    (["clear", ""], "give an account name or an IP address"),
    (["clear", "a" * 257], "at most 256 characters"),
    (["clear", "bad\tname"], "control characters"),
    (["list", "--limit", "0"], "limit: between 1 and 100000"),
    (["list", "--limit", "99999999999999999999999"], "limit: between 1 and 100000"),
]


@SQLITE_ONLY
def test_the_cli_refuses_bad_input_with_exit_2_and_one_line(cli: Callable[..., Any]) -> None:
    for args, fragment in BAD_CLI_INPUT:
        result = cli("lockout", *args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output


# -------------------------------------------------------------------------------- pruning


def test_the_background_writer_forgets_counters_that_no_longer_count(runtime: Runtime) -> None:
    now = utcnow()
    hour, minute = datetime.timedelta(hours=1), datetime.timedelta(minutes=1)
    rows = {
        "old": (now - 2 * hour, None),
        "old-ended": (now - 2 * hour, now - minute),
        "old-still-blocking": (now - 2 * hour, now + minute),
        "recent": (now - 30 * minute, None),
    }
    with runtime.database.write() as session:
        for account, (last, until) in rows.items():
            session.add(
                LoginFailure(
                    scope="account",
                    account=account,
                    address="",
                    failures=3,
                    first_failure_at=last,
                    last_failure_at=last,
                    blocked_until=until,
                )
            )
    runtime.writer.prune(now)  # brute_force.forget_after: 1h
    with runtime.database.read() as session:
        left = set(session.scalars(select(LoginFailure.account)))
    assert left == {"old-still-blocking", "recent"}
