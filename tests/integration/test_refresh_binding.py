"""Refresh tokens, in process against SQLite and PostgreSQL: bound to the service they were
issued for ("Refresh tokens will only be good for getting tokens for this service", oauth.md),
tokens from before that binding good for the first service only, and a bounded number per user
with the oldest revoked first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from regauth.runtime import Runtime
from regauth.store.models import RefreshToken
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]


@pytest.fixture
def runtime(make_runtime: RuntimeFactory, database_url: str) -> Runtime:
    runtime = make_runtime(
        {
            "database": {"url": database_url},
            "token": {"service": ["registry", "mirror"]},
            "refresh_tokens": {"max_per_user": 3},
            "acl": [{"match": {"account": "carol"}, "actions": ["pull"]}],
        }
    )
    runtime.accounts.create_user("carol", password_hash=bcrypt_hash("carol-pw"))
    return runtime


async def issue(client: httpx.AsyncClient, service: str = "registry") -> str:
    response = await client.post(
        "/auth",
        data={
            "grant_type": "password",
            "username": "carol",
            "password": "carol-pw",
            "service": service,
            "client_id": "test",
            "access_type": "offline",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


async def exchange(
    client: httpx.AsyncClient, token: str, service: str | None = "registry"
) -> httpx.Response:
    form: dict[str, Any] = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "test",
        "scope": "repository:team/app:pull",
    }
    if service is not None:
        form["service"] = service
    return await client.post("/auth", data=form)


def assert_invalid_grant(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


async def test_a_refresh_token_is_good_for_its_own_service_only(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    for_registry = await issue(client, "registry")
    assert_invalid_grant(await exchange(client, for_registry, "mirror"))
    granted = await exchange(client, for_registry, "registry")
    assert granted.status_code == 200, granted.text
    claims = jwt.decode(granted.json()["token"], options={"verify_signature": False})
    assert claims["aud"] == "registry"
    assert claims["sub"] == "carol"
    assert granted.json()["scope"] == "repository:team/app:pull"
    # without service= the first one is meant
    assert (await exchange(client, for_registry, None)).status_code == 200
    # and the other way round; a refusal revokes nothing
    for_mirror = await issue(client, "mirror")
    assert_invalid_grant(await exchange(client, for_mirror, "registry"))
    assert_invalid_grant(await exchange(client, for_mirror, None))
    assert (await exchange(client, for_mirror, "mirror")).status_code == 200
    assert (await exchange(client, for_registry, "registry")).status_code == 200


async def test_a_token_from_before_the_binding_serves_the_first_service_only(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    old = await issue(client, "mirror")
    with runtime.database.write() as session:  # as migration 0006 left the tokens before it
        session.execute(update(RefreshToken).values(service=None))
    assert (await exchange(client, old, "registry")).status_code == 200
    assert (await exchange(client, old, None)).status_code == 200
    assert_invalid_grant(await exchange(client, old, "mirror"))


async def test_a_user_holds_at_most_max_per_user_and_the_oldest_go_first(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    tokens = [await issue(client) for _ in range(5)]
    for revoked in tokens[:2]:
        assert_invalid_grant(await exchange(client, revoked))
    for live in tokens[2:]:
        assert (await exchange(client, live)).status_code == 200
    listed = runtime.accounts.list_refresh_tokens("carol")
    assert [t.revoked_at is not None for t in listed] == [True, True, False, False, False]
    # revoked ones do not count: one more revokes only the oldest live one
    newest = await issue(client)
    assert_invalid_grant(await exchange(client, tokens[2]))
    for live in [*tokens[3:], newest]:
        assert (await exchange(client, live)).status_code == 200
