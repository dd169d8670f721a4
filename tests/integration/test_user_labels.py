"""Labels of database users through the admin API and the token endpoint: set at creation,
replaced by PATCH, refused when malformed, and applied to the very next token although the
login is cached."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import RuntimeFactory

ClientFor = Callable[..., httpx.AsyncClient]
ACL = {"acl": [{"match": {"name": "${labels:group}-shared/*"}, "actions": ["push", "pull"]}]}


def _basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"authorization": f"Basic {raw}"}


async def _actions(client: httpx.AsyncClient, repository: str) -> list[str]:
    response = await client.get(
        "/auth",
        params={"service": "registry", "scope": f"repository:{repository}:push,pull"},
        headers=_basic("alice", "alice-pw-1"),
    )
    assert response.status_code == 200, response.text
    claims: dict[str, Any] = jwt.decode(
        response.json()["token"], options={"verify_signature": False}
    )
    return sorted(a for entry in claims["access"] for a in entry["actions"])


async def test_labels_in_the_api_reach_the_next_token(
    make_runtime: RuntimeFactory, client_for: ClientFor
) -> None:
    runtime = make_runtime(ACL)
    runtime.accounts.create_user("root", is_admin=True)
    token = runtime.accounts.create_token("root", "admin api").secret
    client = client_for(runtime)
    admin = {"authorization": f"Bearer {token}"}
    created = await client.post(
        "/api/v1/users",
        json={"username": "alice", "password": "alice-pw-1", "labels": {"group": ["dev"]}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["labels"] == {"group": ["dev"]}
    assert await _actions(client, "dev-shared/app") == ["pull", "push"]
    assert await _actions(client, "ops-shared/app") == []  # the login is cached now
    patched = await client.patch(
        "/api/v1/users/alice", json={"labels": {"group": ["ops"]}}, headers=admin
    )
    assert patched.json()["labels"] == {"group": ["ops"]}
    assert await _actions(client, "ops-shared/app") == ["pull", "push"]
    assert await _actions(client, "dev-shared/app") == []
    # beside the server, as `regauth user label` does: the change log tells the process
    runtime.accounts.change_labels("alice", set_labels={"group": "dev"})
    await runtime.watcher.catch_up()
    assert await _actions(client, "dev-shared/app") == ["pull", "push"]
    cleared = await client.patch("/api/v1/users/alice", json={"labels": {}}, headers=admin)
    assert cleared.json()["labels"] == {}
    assert await _actions(client, "dev-shared/app") == []


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"bad key": ["x"]}, "body.labels"),
        ({"group": []}, "body.labels.group"),
        ({"group": "dev"}, "body.labels.group"),
        ({"group": ["a\nb"]}, "body.labels.group"),
    ],
)
async def test_malformed_labels_are_400(
    make_runtime: RuntimeFactory, client_for: ClientFor, labels: Any, fragment: str
) -> None:
    runtime = make_runtime({})
    runtime.accounts.create_user("root", is_admin=True)
    token = runtime.accounts.create_token("root", "admin api").secret
    client = client_for(runtime)
    response = await client.post(
        "/api/v1/users",
        json={"username": "alice", "labels": labels},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
