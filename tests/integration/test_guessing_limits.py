"""Guessing limits, in process against a real database: delays per account and address, a
ceiling per address (spraying), an account lockout, refusals that cost no hash and tell a
locked account from an unknown one in no way, and counts shared by every runtime."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from regauth.credentials import passwords
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]
PAT_SHAPED = "regauth_pat_" + "x" * 43


def limits(**overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "account_address": {"free_failures": 3, "delay": "60s", "max_delay": "10m"},
        "address": {"free_failures": 8, "delay": "60s", "max_delay": "10m"},
        "account": {"lockout_after": 12, "lockout_duration": "15m"},
    }
    section.update(overrides)
    return {
        "users": {
            "alice": {"password": bcrypt_hash("alice-pw")},
            "bob": {"password": bcrypt_hash("bob-pw")},
        },
        "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
        "brute_force": section,
    }


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return make_runtime(limits())


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash verified from now on."""
    seen: list[str] = []
    real = passwords.verify_password

    def counting(encoded: str, password: bytes) -> bool:
        seen.append(encoded)
        return real(encoded, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return seen


async def login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.get("/auth", params={"scope": "repository:x:pull"}, auth=(user, password))


async def test_delays_start_after_the_free_failures_and_cost_no_hash(
    runtime: Runtime, client_for: ClientFor, hashes: list[str]
) -> None:
    client = client_for(runtime, "203.0.113.5")
    for _ in range(4):  # 3 free, the 4th starts a delay
        assert (await login(client, "alice", "guess")).status_code == 401
    hashes.clear()
    refused = await login(client, "alice", "alice-pw")  # even the right password waits
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert hashes == []  # refused before any password check
    # the OAuth2 form answers with its own error body
    posted = await client.post(
        "/auth",
        data={"grant_type": "password", "username": "alice", "password": "alice-pw"},
    )
    assert posted.status_code == 429
    assert posted.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in posted.headers
    # another account from the same address, and the same account from another, go on
    assert (await login(client, "bob", "bob-pw")).status_code == 200
    other = client_for(runtime, "198.51.100.7")
    assert (await login(other, "alice", "alice-pw")).status_code == 200


async def test_the_delay_doubles_and_ends(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime, "203.0.113.6")
    limiter = runtime.authenticators.limiter
    assert limiter is not None
    now = [datetime.datetime.now(datetime.UTC)]
    limiter._clock = lambda: now[0]  # type: ignore[method-assign]
    for _ in range(4):
        await login(client, "alice", "guess")
    first = int((await login(client, "alice", "guess")).headers["retry-after"])
    assert 55 <= first <= 60
    now[0] += datetime.timedelta(seconds=61)
    assert (await login(client, "alice", "guess")).status_code == 401  # one more try, failed
    second = int((await login(client, "alice", "guess")).headers["retry-after"])
    assert 115 <= second <= 120
    now[0] += datetime.timedelta(seconds=121)
    assert (await login(client, "alice", "alice-pw")).status_code == 200


async def test_a_success_resets_its_pair(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime, "203.0.113.7")
    for _ in range(3):
        assert (await login(client, "alice", "guess")).status_code == 401
    assert (await login(client, "alice", "alice-pw")).status_code == 200
    for _ in range(3):  # the count started again
        assert (await login(client, "alice", "guess")).status_code == 401


async def test_spraying_from_one_address_is_stopped_for_every_account(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime, "203.0.113.8")
    for number in range(9):  # 8 free for the address, one account each
        assert (await login(client, f"user{number}", "Summer2026!")).status_code == 401
    refused = await login(client, "alice", "alice-pw")
    assert refused.status_code == 429
    assert (await login(client_for(runtime, "203.0.113.9"), "alice", "alice-pw")).status_code == 200


async def test_account_lockout_across_addresses_and_a_locked_account_looks_unknown(
    runtime: Runtime, client_for: ClientFor
) -> None:
    holder = client_for(runtime, "192.0.2.200")
    assert (await login(holder, "alice", "alice-pw")).status_code == 200  # cached login
    for number in range(11):  # below the lockout: the holder is not affected
        await login(client_for(runtime, f"192.0.2.{number}"), "alice", "guess")
        await login(client_for(runtime, f"192.0.2.{number}"), "ghost", "guess")
    assert (await login(holder, "alice", "alice-pw")).status_code == 200
    await login(client_for(runtime, "192.0.2.11"), "alice", "guess")
    await login(client_for(runtime, "192.0.2.11"), "ghost", "guess")
    fresh = client_for(runtime, "192.0.2.99")
    locked = await login(fresh, "alice", "alice-pw")
    unknown = await login(fresh, "ghost", "whatever")
    assert locked.status_code == unknown.status_code == 429
    assert locked.json() == unknown.json()
    assert abs(int(locked.headers["retry-after"]) - int(unknown.headers["retry-after"])) <= 2
    # the lockout reaches the login that was cached before it
    assert (await login(holder, "alice", "alice-pw")).status_code == 429


async def test_high_entropy_secrets_never_lock_an_account(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime, "203.0.113.10")
    for _ in range(5):  # past the pair's 3 free failures, below the address's 8
        assert (await login(client, "alice", PAT_SHAPED)).status_code == 401
    for _ in range(2):
        assert (await login(client, "robot+ci", "regauth_robot_nope")).status_code == 401
    assert (await login(client, "alice", "alice-pw")).status_code == 200  # alice is not locked
    for _ in range(2):  # but the address that sends them is slowed like any other
        await login(client, "alice", PAT_SHAPED)
    assert (await login(client, "bob", "bob-pw")).status_code == 429
    assert (await login(client_for(runtime, "203.0.113.11"), "bob", "bob-pw")).status_code == 200


async def test_invalid_refresh_tokens_slow_the_address(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime, "203.0.113.12")
    form = {"grant_type": "refresh_token", "refresh_token": "regauth_rt_" + "y" * 43}
    for _ in range(9):
        assert (await client.post("/auth", data=form)).status_code == 400
    refused = await client.post("/auth", data=form)
    assert refused.status_code == 429


async def test_refusals_are_audited_logged_and_counted(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime, "203.0.113.13")
    for _ in range(5):
        await login(client, "alice", "guess")
    runtime.writer.flush()
    from regauth.audit import AuditFilter, query_audit

    rows = query_audit(runtime.database, AuditFilter(outcome="throttled"))
    assert rows and rows[0]["status"] == 429
    assert rows[0]["account"] == "alice"
    metrics = (await client.get("/metrics")).text
    assert 'regauth_login_refusals_total{reason="throttled"} 1.0' in metrics
    assert 'outcome="throttled"' in metrics


async def test_counts_are_shared_by_every_runtime_on_the_database(
    make_runtime: RuntimeFactory, client_for: ClientFor
) -> None:
    first, second = make_runtime(limits()), make_runtime(limits())
    for _ in range(2):
        await login(client_for(first, "203.0.113.14"), "alice", "guess")
        await login(client_for(second, "203.0.113.14"), "alice", "guess")
    assert (await login(client_for(first, "203.0.113.14"), "alice", "alice-pw")).status_code == 429


async def test_limits_can_be_switched_off(
    make_runtime: RuntimeFactory, client_for: ClientFor
) -> None:
    runtime = make_runtime({**limits(), "brute_force": {"enabled": False}})
    client = client_for(runtime, "203.0.113.15")
    for _ in range(10):
        assert (await login(client, "alice", "guess")).status_code == 401
    assert (await login(client, "alice", "alice-pw")).status_code == 200


async def test_ipv6_clients_are_counted_per_64(runtime: Runtime, client_for: ClientFor) -> None:
    for number in range(4):
        await login(client_for(runtime, f"2001:db8:1:2::{number + 1}"), "alice", "guess")
    refused = await login(client_for(runtime, "2001:db8:1:2::ff"), "alice", "alice-pw")
    assert refused.status_code == 429
    other = await login(client_for(runtime, "2001:db8:1:3::1"), "alice", "alice-pw")
    assert other.status_code == 200


async def test_invalid_admin_api_tokens_slow_the_address(
    runtime: Runtime, client_for: ClientFor
) -> None:
    runtime.accounts.create_user("ops", password="ops-password", is_admin=True)
    good = runtime.accounts.create_token("ops", "api").secret
    client = client_for(runtime, "203.0.113.20")
    bad = {"Authorization": "Bearer regauth_pat_" + "z" * 43}
    for _ in range(9):  # the address's 8 free failures, then a delay
        assert (await client.get("/api/v1/whoami", headers=bad)).status_code == 401
    refused = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {good}"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many" in refused.json()["message"]
    # another address is not slowed, and the account never locks: tokens cannot be guessed
    other = client_for(runtime, "203.0.113.21")
    ok = await other.get("/api/v1/whoami", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200
    # the API's audit filter knows the outcome the limits give
    throttled = await other.get(
        "/api/v1/audit",
        params={"outcome": "throttled"},
        headers={"Authorization": f"Bearer {good}"},
    )
    assert throttled.status_code == 200
