"""Load shedding: a burst of password checks past the bounded queue is refused at once (503,
Retry-After) instead of piling up, while cached logins and tokens keep their fast path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from regauth.runtime import Runtime
from regauth.web.app import create_app
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]
BURST = 120
QUEUE = 6


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    runtime = make_runtime(
        {
            # bcrypt cost 10: about 60 ms a check, as a real htpasswd or docker_auth file has
            "users": {
                "alice": {"password": bcrypt_hash("alice-pw", cost=10)},
                "carol": {"password": bcrypt_hash("carol-pw", cost=10)},
            },
            "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
            "server": {"max_pending_password_checks": QUEUE},
            # the burst comes from many addresses, below every guessing limit
            "brute_force": {"address": {"free_failures": 1000}},
        }
    )
    runtime.accounts.create_user("dave", password="dave-password")
    return runtime


async def _get(client: httpx.AsyncClient, user: str, password: str) -> tuple[int, float, str]:
    started = time.perf_counter()
    response = await client.get("/auth", auth=(user, password))
    return (
        response.status_code,
        time.perf_counter() - started,
        response.headers.get("retry-after", ""),
    )


async def test_a_burst_is_shed_and_the_fast_paths_stay_fast(runtime: Runtime) -> None:
    app = create_app(runtime)  # one app (one worker) behind every client address
    clients: list[httpx.AsyncClient] = []

    def client_for(_runtime: Runtime, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://regauth.test"))
        return clients[-1]

    try:
        await _shed(runtime, client_for)
    finally:
        for client in clients:
            await client.aclose()


async def _shed(runtime: Runtime, client_for: ClientFor) -> None:
    holder = client_for(runtime, "192.0.2.1")
    assert (await _get(holder, "alice", "alice-pw"))[0] == 200  # now a cached login
    token = runtime.accounts.create_token("dave", "ci").secret
    attackers = [client_for(runtime, f"198.51.100.{n % 250 + 1}") for n in range(BURST)]
    burst = [
        asyncio.ensure_future(_get(c, f"user{n}", "wrong-password"))
        for n, c in enumerate(attackers)
    ]
    await asyncio.sleep(0.05)  # the queue is full now
    during = await asyncio.gather(
        _get(holder, "alice", "alice-pw"),  # cached login
        _get(client_for(runtime, "192.0.2.2"), "dave", token),  # personal access token
        _get(client_for(runtime, "192.0.2.3"), "carol", "carol-pw"),  # a first login
    )
    results = await asyncio.gather(*burst)
    statuses = [status for status, _, _ in results]
    shed = [r for r in results if r[0] == 503]
    assert statuses.count(401) >= QUEUE // 2  # about the queue's worth was checked
    assert len(shed) >= BURST - 3 * QUEUE  # the rest refused, not queued
    assert all(retry == "1" for _, _, retry in shed)
    assert max(seconds for _, seconds, _ in shed) < 1.0  # refused at once
    (cached, cached_s, _), (by_token, token_s, _), (first, first_s, _) = during
    assert cached == 200 and cached_s < 0.5
    assert by_token == 200 and token_s < 0.5
    # a first login during the burst is answered promptly: checked, or refused at once
    assert first in (200, 503) and first_s < 2.0
    # and once the burst is over it goes through
    assert (await _get(client_for(runtime, "192.0.2.3"), "carol", "carol-pw"))[0] == 200
    metrics = (await holder.get("/metrics")).text
    assert 'regauth_login_refusals_total{reason="overloaded"}' in metrics
