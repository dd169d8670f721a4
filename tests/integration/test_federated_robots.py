"""Federated robots in process: a CI system's ID token as ``robot+NAME``'s password.

The issuer is :class:`tests.ci_issuer.CiIssuer`, a real HTTP issuer on 127.0.0.1 (discovery
and key set) whose tokens carry GitHub-style claims. Accepted: matching claims, a glob, a
second value of one claim, a per-robot audience; the token's claims in the log line and the
audit row. Refused with the reason in the log: a static secret, wrong audience, claim
mismatch, expired, replay after expiry, another issuer's key, another issuer, alg none / HS256,
nbf in the future, a revoked robot. Keys: refetched for a new kid, at most once per
``keys_min_refresh`` for made-up ones. The admin API's robots resource with ``federated``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from regauth.accounts import check_federation
from regauth.audit import AuditFilter, query_audit
from regauth.events import configure_logging
from regauth.runtime import Runtime
from tests.ci_issuer import CiIssuer, github_claims, new_key
from tests.conftest import RuntimeFactory

ClientFor = Callable[..., httpx.AsyncClient]
AUDIENCE = "https://regauth.example.com"
SCOPE = {"service": "registry", "scope": "repository:acme/api:pull,push"}


@pytest.fixture(scope="module")
def issuer() -> Iterator[CiIssuer]:
    with CiIssuer() as running:
        yield running


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory, issuer: CiIssuer) -> AsyncIterator[Runtime]:
    runtime = make_runtime(
        {"server": {"public_url": AUDIENCE}, "robots": {"keys_min_refresh": "1s"}}
    )
    runtime.accounts.create_robot(
        "ci",
        grants=[("acme/*", "push")],
        federation=check_federation(
            issuer.issuer,
            None,
            {"repository": ["acme/api"], "ref": ["refs/heads/main", "refs/tags/v*"]},
        ),
    )
    yield runtime
    await runtime.stop()


async def ask(client: httpx.AsyncClient, password: str, user: str = "robot+ci") -> httpx.Response:
    return await client.get("/auth", params=SCOPE, auth=(user, password))


def actions(response: httpx.Response) -> list[str]:
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return sorted(claims["access"][0]["actions"])


def token_events(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == "token"]


async def test_matching_token_is_granted_and_its_claims_are_audited(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    client = client_for(runtime)
    claims = github_claims(ref="refs/tags/v1.2.0")  # the glob
    token = issuer.mint(AUDIENCE, claims)
    answer = await ask(client, token)
    assert answer.status_code == 200, answer.text
    assert actions(answer) == ["pull", "push"]
    # the OAuth2 password form takes it too
    form = await client.post(
        "/auth",
        data={
            "grant_type": "password",
            "username": "robot+ci",
            "password": token,
            "service": "registry",
            "client_id": "ci",
            "scope": SCOPE["scope"],
        },
    )
    assert form.status_code == 200, form.text
    (event, _) = token_events(stream)
    assert event["account"] == "robot+ci"
    assert (event["method"], event["credential"]) == ("federated", "id_token")
    logged = event["credential_claims"]
    assert logged["iss"] == issuer.issuer
    assert logged["sub"] == claims["sub"]
    assert logged["run_id"] == claims["run_id"]
    assert logged["ref"] == "refs/tags/v1.2.0"
    assert "jti" in logged
    assert token not in stream.getvalue()
    runtime.writer.flush()
    rows = query_audit(runtime.database, AuditFilter(account="robot+ci"))
    assert len(rows) == 2
    for row in rows:
        assert f"run_id={claims['run_id']}" in row["reason"], row
        assert f"iss={issuer.issuer}" in row["reason"]
        assert row["method"] == "federated/id_token"
    assert runtime.accounts.list_robots()[0].last_used_at is not None


async def test_refusals_give_401_and_the_reason_in_the_log(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    client = client_for(runtime)
    foreign = new_key()
    foreign_same_kid = new_key()
    foreign_same_kid._dict_value["kid"] = issuer.key.kid  # type: ignore[attr-defined]
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = issuer.mint(AUDIENCE).split(".")[1]
    hs256 = jwt.encode(
        {"iss": issuer.issuer, "aud": AUDIENCE, "exp": 2**32, **github_claims()},
        "a-shared-secret-of-32-bytes-long!",
        algorithm="HS256",
    )
    cases = [
        ("regauth_robot_" + "x" * 40, "accepts only an ID token"),
        (issuer.mint("https://other.example"), "wrong audience"),
        (issuer.mint(AUDIENCE, github_claims(ref="refs/heads/dev")), "claim mismatch: ref"),
        (issuer.mint(AUDIENCE, github_claims(repository="evil/api")), "claim mismatch"),
        (issuer.mint(AUDIENCE, {"sub": "x", "ref": "refs/heads/main"}), "no 'repository'"),
        (issuer.mint(AUDIENCE, lifetime=-5), "expired"),
        (issuer.mint(AUDIENCE, key=foreign), "unknown signing key"),
        (issuer.mint(AUDIENCE, key=foreign_same_kid), "does not verify"),
        (issuer.mint(AUDIENCE, issuer="https://token.actions.githubusercontent.com"), "issuer"),
        (f"{header}.{body}.", "accepts only an ID token"),  # no signature: not a JWS
        (f"{header}.{body}.c2lnbmF0dXJl", "not accepted"),
        (hs256, "not accepted"),
        (issuer.mint(AUDIENCE, now=time.time() + 600), "nbf is 59"),
    ]
    for token, _ in cases:
        answer = await ask(client, token)
        assert answer.status_code == 401, answer.text
        assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"
    events = token_events(stream)
    assert len(events) == len(cases)
    for (_, reason), event in zip(cases, events, strict=True):
        assert reason in event["reason"], (reason, event["reason"])
        assert event["reason"].startswith("federated:")
    text = stream.getvalue()
    for token, _ in cases:
        assert token not in text
    # a revoked robot refuses even a good token
    runtime.accounts.revoke_robot("ci")
    refused = await ask(client, issuer.mint(AUDIENCE))
    assert refused.status_code == 401
    assert "robot is revoked" in token_events(stream)[-1]["reason"]


async def test_token_replayed_after_its_expiry_is_refused(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    client = client_for(runtime)
    token = issuer.mint(AUDIENCE, lifetime=2)
    assert (await ask(client, token)).status_code == 200
    assert (await ask(client, token)).status_code == 200  # reused while valid
    await asyncio.sleep(2.2)
    replayed = await ask(client, token)
    assert replayed.status_code == 401
    assert "expired" in token_events(stream)[-1]["reason"]


async def test_keys_are_fetched_again_for_a_new_kid_but_bounded(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    assert (await ask(client, issuer.mint(AUDIENCE))).status_code == 200
    fetched = issuer.jwks_fetches
    # made-up key IDs: at most one fetch per keys_min_refresh (1 s here), however many tokens
    made_up = [issuer.mint(AUDIENCE, key=new_key("ES256")) for _ in range(20)]
    for token in made_up:
        assert (await ask(client, token)).status_code == 401
    assert issuer.jwks_fetches - fetched <= 1
    # the issuer rotates its key: a token with the new kid works after the interval
    old = issuer.key
    issuer.rotate()
    try:
        await asyncio.sleep(1.1)
        assert (await ask(client, issuer.mint(AUDIENCE))).status_code == 200
    finally:
        issuer.key = old


async def test_a_robot_with_its_own_audience_and_list_claims(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    runtime.accounts.create_robot(
        "gl",
        federation=check_federation(
            issuer.issuer, "https://gitlab-aud", {"project_path": ["acme/*"], "groups": ["ops"]}
        ),
    )
    client = client_for(runtime)
    claims = {"sub": "project_path:acme/api", "project_path": "acme/api", "groups": ["dev", "ops"]}
    good = issuer.mint("https://gitlab-aud", claims)
    assert (await ask(client, good, "robot+gl")).status_code == 200
    # the default audience is not this robot's
    assert (await ask(client, issuer.mint(AUDIENCE, claims), "robot+gl")).status_code == 401
    # a token for robot+gl does not log in robot+ci (other conditions), nor a secret robot
    assert (await ask(client, good, "robot+ci")).status_code == 401


# ---------------------------------------------------------------------- the admin API


async def test_admin_api_creates_a_federated_robot(
    runtime: Runtime, issuer: CiIssuer, client_for: ClientFor
) -> None:
    runtime.accounts.create_user("root", is_admin=True)
    admin = runtime.accounts.create_token("root", "admin api").secret
    client = client_for(runtime)
    client.headers["authorization"] = f"Bearer {admin}"
    body = {
        "name": "deploy",
        "grants": [{"pattern": "acme/*", "role": "pull"}],
        "federated": {"issuer": issuer.issuer, "claims": {"repository": ["acme/api"]}},
    }
    created = await client.post("/api/v1/robots", json=body)
    assert created.status_code == 201, created.text
    robot = created.json()
    assert robot["secret"] is None
    assert robot["federated"] == {
        "issuer": issuer.issuer,
        "audience": None,
        "claims": {"repository": ["acme/api"]},
    }
    listed = (await client.get("/api/v1/robots")).json()
    assert {r["name"]: r["federated"] is not None for r in listed} == {"ci": True, "deploy": True}
    del client.headers["authorization"]
    assert (await ask(client, issuer.mint(AUDIENCE), "robot+deploy")).status_code == 200
    client.headers["authorization"] = f"Bearer {admin}"
    bad = [
        ({"issuer": "http://ci.example.com", "claims": {"a": ["b"]}}, "https://"),
        ({"issuer": issuer.issuer, "claims": {}}, "at least one claim condition"),
        ({"issuer": issuer.issuer, "claims": {"aud": ["x"]}}, "cannot be a condition"),
        ({"issuer": issuer.issuer, "claims": {"sub": ["**"]}}, "would accept any token"),
        ({"issuer": issuer.issuer, "claims": {"1x": ["b"]}}, "invalid claim name"),
    ]
    for federated, message in bad:
        answer = await client.post("/api/v1/robots", json={"name": "bad", "federated": federated})
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["message"]
    assert [r.name for r in runtime.accounts.list_robots()] == ["ci", "deploy"]  # no partial
