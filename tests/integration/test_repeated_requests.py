"""Repeated token requests answered from remembered grants (``regauth.web.grant_memo``):
every answer is a new token, logged and audited, and nothing that should change the answer
is hidden by the memo: passwords, accounts, grants, htpasswd files, addresses, revocable
credentials and the credential cache's lifetime."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from regauth.audit import AuditFilter, query_audit
from regauth.events import configure_logging
from regauth.runtime import Runtime
from regauth.web.app import RegauthApp
from tests.conftest import RuntimeFactory, bcrypt_hash

PULL_PUSH = {"service": "registry", "scope": "repository:alice/app:pull,push"}


def config(**extra: Any) -> dict[str, Any]:
    return {
        "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
        "acl": [
            {"match": {"account": "alice", "name": "alice/*"}, "actions": ["*"]},
            {"match": {"ip": "192.0.2.0/24", "name": "lab/*"}, "actions": ["pull"]},
            {"match": {"account": "", "name": "public/*"}, "actions": ["pull"]},
        ],
        **extra,
    }


def client(runtime: Runtime, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An in-process client; all of a runtime's clients share one app, as one worker does."""
    app = getattr(runtime, "_test_app", None)
    if app is None:
        app = RegauthApp(runtime)
        runtime._test_app = app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://regauth.test")


def access(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return list(claims["access"])


def memo_size(runtime: Runtime) -> int:
    app = runtime._test_app  # type: ignore[attr-defined]
    memo = app._token._memo
    assert memo is not None
    return len(memo)


async def test_the_same_request_again_gets_a_new_token_logged_and_audited(
    make_runtime: RuntimeFactory,
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    runtime = make_runtime(config())
    async with client(runtime) as http:
        answers = []
        for agent in ("docker/27", "podman/4.3", "skopeo/1.9"):
            answers.append(
                await http.get(
                    "/auth",
                    params=PULL_PUSH,
                    auth=("alice", "alice-pw"),
                    headers={"user-agent": agent},
                )
            )
            await asyncio.sleep(0)
    assert memo_size(runtime) == 1
    tokens = [a.json()["token"] for a in answers]
    claims = [
        jwt.decode(
            t,
            runtime.signing_key.private_key.public_key(),
            algorithms=["ES256"],
            audience="registry",
        )
        for t in tokens
    ]
    assert len({c["jti"] for c in claims}) == 3  # each one signed anew
    for c in claims:
        assert c["sub"] == "alice"
        assert c["access"] == [
            {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
        ]
        assert c["exp"] - c["iat"] == 300 and c["nbf"] == c["iat"]
    for a in answers:
        body = a.json()
        assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
        assert body["token"] == body["access_token"] and body["expires_in"] == 300
        assert a.headers["cache-control"] == "no-store"
        assert a.headers["pragma"] == "no-cache"
        assert int(a.headers["content-length"]) == len(a.content)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    token_lines = [line for line in lines if line["event"] == "token"]
    assert [line["user_agent"] for line in token_lines] == ["docker/27", "podman/4.3", "skopeo/1.9"]
    first, *again = token_lines
    for line in again:  # the remembered event says what the first said
        assert {
            k: v for k, v in line.items() if k not in ("user_agent", "latency_ms", "timestamp")
        } == {k: v for k, v in first.items() if k not in ("user_agent", "latency_ms", "timestamp")}
    assert first["decisions"] == [
        {"scope": "repository:alice/app:pull,push", "granted": ["pull", "push"], "rule": "acl[0]"}
    ]
    assert first["level"] == "info" and first["timestamp"].endswith("Z")
    assert "alice-pw" not in stream.getvalue()
    runtime.writer.flush()
    audit = query_audit(runtime.database, AuditFilter(account="alice"))
    assert len(audit) == 3
    assert sorted(e["user_agent"] for e in audit) == ["docker/27", "podman/4.3", "skopeo/1.9"]
    for event in audit:
        assert event["outcome"] == "granted" and event["status"] == 200
        assert event["method"] == "static/password" and event["grant_type"] == "basic"
        assert event["client_ip"] == "127.0.0.1" and event["service"] == "registry"
        assert event["scopes"] == [
            {
                "type": "repository",
                "name": "alice/app",
                "requested": ["pull", "push"],
                "granted": ["pull", "push"],
                "decided_by": "acl[0]",
            }
        ]
    assert len(query_audit(runtime.database, AuditFilter(repository="alice/app"))) == 3


async def test_a_changed_password_is_refused_on_the_next_request(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime({"acl": [{"match": {"account": "bob"}, "actions": ["pull"]}]})
    runtime.accounts.create_user("bob", password="first-password-1")
    params = {"scope": "repository:team/app:pull"}
    async with client(runtime) as http:
        for _ in range(2):
            assert access(await http.get("/auth", params=params, auth=("bob", "first-password-1")))
        assert memo_size(runtime) == 1
        runtime.accounts.set_password("bob", "second-password-2")
        refused = await http.get("/auth", params=params, auth=("bob", "first-password-1"))
        assert refused.status_code == 401
        assert access(await http.get("/auth", params=params, auth=("bob", "second-password-2")))
        runtime.accounts.set_enabled("bob", False)
        disabled = await http.get("/auth", params=params, auth=("bob", "second-password-2"))
        assert disabled.status_code == 401


async def test_a_removed_grant_is_gone_from_the_next_token(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime({})
    runtime.accounts.create_user("carol", password="carol-password-1")
    grant = runtime.accounts.add_grant(pattern="shared/*", role="push", user="carol")
    params = {"scope": "repository:shared/app:pull,push"}
    async with client(runtime) as http:
        for _ in range(2):
            got = access(await http.get("/auth", params=params, auth=("carol", "carol-password-1")))
            assert got == [
                {"type": "repository", "name": "shared/app", "actions": ["pull", "push"]}
            ]
        runtime.accounts.remove_grant(grant.id)
        after = access(await http.get("/auth", params=params, auth=("carol", "carol-password-1")))
        assert after == [{"type": "repository", "name": "shared/app", "actions": []}]


async def test_an_edited_htpasswd_file_is_noticed(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "users.htpasswd"
    htpasswd.write_text(f"dave:{bcrypt_hash('dave-pw-1')}\n")
    runtime = make_runtime(
        {"htpasswd": str(htpasswd), "acl": [{"match": {"account": "dave"}, "actions": ["pull"]}]}
    )
    params = {"scope": "repository:x/y:pull"}
    async with client(runtime) as http:
        for _ in range(2):
            assert access(await http.get("/auth", params=params, auth=("dave", "dave-pw-1")))
        htpasswd.write_text(f"dave:{bcrypt_hash('dave-pw-2')}\n")
        later = time.time() + 5
        os.utime(htpasswd, (later, later))
        deadline = time.monotonic() + 10  # the file is looked at every few seconds at most
        while True:
            answer = await http.get("/auth", params=params, auth=("dave", "dave-pw-1"))
            if answer.status_code == 401:
                break
            assert time.monotonic() < deadline, "the old htpasswd password kept working"
            await asyncio.sleep(0.2)
        assert access(await http.get("/auth", params=params, auth=("dave", "dave-pw-2")))


async def test_the_client_address_is_part_of_what_is_remembered(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(config())
    params = {"scope": "repository:lab/tool:pull"}
    async with client(runtime, "192.0.2.10") as inside, client(runtime, "198.51.100.1") as outside:
        for _ in range(2):
            assert access(await inside.get("/auth", params=params, auth=("alice", "alice-pw")))[0][
                "actions"
            ] == ["pull"]
            assert (
                access(await outside.get("/auth", params=params, auth=("alice", "alice-pw")))[0][
                    "actions"
                ]
                == []
            )
    assert memo_size(runtime) == 2


async def test_different_scopes_and_credentials_are_different_requests(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(config())
    pull_only = {"scope": "repository:alice/app:pull"}
    public = {"scope": "repository:public/x:pull"}
    async with client(runtime) as http:
        for _ in range(3):  # each request a second and third time: remembered
            first = access(await http.get("/auth", params=PULL_PUSH, auth=("alice", "alice-pw")))
            pull = access(await http.get("/auth", params=pull_only, auth=("alice", "alice-pw")))
            wrong = await http.get("/auth", params=PULL_PUSH, auth=("alice", "alice-pw-wrong"))
            anonymous = access(await http.get("/auth", params=public))
            assert first[0]["actions"] == ["pull", "push"] and pull[0]["actions"] == ["pull"]
            # failures are never remembered, nor answered from memory
            assert wrong.status_code == 401
            assert anonymous == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]
    assert memo_size(runtime) == 3


async def test_a_request_seen_once_leaves_nothing_behind(make_runtime: RuntimeFactory) -> None:
    """A stream of requests that never repeat (every repository once) fills no cache: each
    entry would only be garbage for the collector to walk."""
    runtime = make_runtime(config())
    app = RegauthApp(runtime)
    runtime._test_app = app  # type: ignore[attr-defined]
    async with client(runtime) as http:
        for number in range(50):
            params = {"scope": f"repository:alice/app-{number}:pull"}
            assert access(await http.get("/auth", params=params, auth=("alice", "alice-pw")))
    assert memo_size(runtime) == 0
    assert len(app._token._queries) == 0
    assert len(runtime.acl._decisions) == 0


async def test_revocable_credentials_are_checked_every_time(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime({"acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}]})
    runtime.accounts.create_user("erin", password="erin-password-1")
    created = runtime.accounts.create_token("erin", "ci")
    params = {"scope": "repository:team/app:pull"}
    async with client(runtime) as http:
        for _ in range(2):
            assert access(await http.get("/auth", params=params, auth=("erin", created.secret)))
        assert memo_size(runtime) == 0
        runtime.accounts.revoke_token(created.view.id)
        revoked = await http.get("/auth", params=params, auth=("erin", created.secret))
        assert revoked.status_code == 401


async def test_a_request_for_a_refresh_token_is_never_answered_from_memory(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime({"acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}]})
    runtime.accounts.create_user("fred", password="fred-password-1")
    params = {"scope": "repository:a/b:pull", "offline_token": "true", "client_id": "docker"}
    async with client(runtime) as http:
        bodies = [
            (await http.get("/auth", params=params, auth=("fred", "fred-password-1"))).json()
            for _ in range(2)
        ]
    assert memo_size(runtime) == 0
    assert all("refresh_token" in body for body in bodies)
    assert bodies[0]["refresh_token"] != bodies[1]["refresh_token"]


async def test_no_memory_when_the_credential_cache_is_off(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config(credential_cache={"ttl": 0}))
    async with client(runtime) as http:
        for _ in range(2):
            assert access(await http.get("/auth", params=PULL_PUSH, auth=("alice", "alice-pw")))
    app = runtime._test_app  # type: ignore[attr-defined]
    assert app._token._memo is None


@pytest.mark.parametrize("ttl", [0.3])
async def test_a_remembered_grant_lasts_no_longer_than_the_cached_login(
    make_runtime: RuntimeFactory, ttl: float
) -> None:
    runtime = make_runtime(config(credential_cache={"ttl": ttl}))
    checks = 0
    original = runtime.authenticators._authenticate_uncached

    async def counting(username: str, password: Any) -> Any:
        nonlocal checks
        checks += 1
        return await original(username, password)

    runtime.authenticators._authenticate_uncached = counting  # type: ignore[method-assign]
    async with client(runtime) as http:
        for _ in range(3):
            assert access(await http.get("/auth", params=PULL_PUSH, auth=("alice", "alice-pw")))
        assert checks == 1
        await asyncio.sleep(ttl + 0.1)
        assert access(await http.get("/auth", params=PULL_PUSH, auth=("alice", "alice-pw")))
        assert checks == 2  # the password was verified again
