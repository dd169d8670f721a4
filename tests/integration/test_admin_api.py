"""The admin REST API, in process: every route, its credentials, its errors, and its discretion."""

from __future__ import annotations

import base64
import datetime
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.exc import OperationalError

from regauth.admin_auth import (
    AdminAuthError,
    AdminCredentials,
    parse_admin_authorization,
    verify_admin_token,
)
from regauth.events import configure_logging
from regauth.protocol.secret import Secret
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]
API = "/api/v1"


@dataclass
class Api:
    runtime: Runtime
    client: httpx.AsyncClient
    token: str

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, API + path, **kwargs)


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return make_runtime({})


@pytest.fixture
def api(runtime: Runtime, client_for: ClientFor) -> Api:
    runtime.accounts.create_user("root", is_admin=True)
    token = runtime.accounts.create_token("root", "admin api").secret
    client = client_for(runtime)
    client.headers["authorization"] = f"Bearer {token}"
    return Api(runtime, client, token)


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    assert "Traceback" not in response.text


# ------------------------------------------------------------------------------ authentication


async def test_whoami_with_bearer_and_basic(api: Api) -> None:
    bearer = await api.call("GET", "/whoami")
    assert bearer.status_code == 200
    assert bearer.json()["username"] == "root"
    assert bearer.json()["is_admin"] is True
    assert bearer.headers["cache-control"] == "no-store"
    via_basic = await api.call(
        "GET", "/whoami", headers={"authorization": basic("root", api.token)}
    )
    assert via_basic.status_code == 200
    assert via_basic.json()["username"] == "root"


async def test_missing_or_wrong_credentials_are_401(api: Api) -> None:
    missing = await api.client.get(API + "/users", headers={"authorization": ""})
    assert_error(missing, 401, "unauthorized", "Bearer")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for header in (
        "Bearer regauth_pat_not-a-real-token",
        "Bearer something-else",
        "Token abc",
        "Basic !!!not-base64",
        basic("someone-else", api.token),
        basic("root", "a-password"),
    ):
        response = await api.client.get(API + "/users", headers={"authorization": header})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_non_admin_and_limited_tokens_are_403(api: Api) -> None:
    accounts = api.runtime.accounts
    accounts.create_user("bob")
    bob = accounts.create_token("bob", "laptop").secret
    response = await api.call("GET", "/users", headers={"authorization": f"Bearer {bob}"})
    assert_error(response, 403, "forbidden", "not an administrator")
    limited_repos = accounts.create_token("root", "ci", repositories=["team/*"]).secret
    limited_actions = accounts.create_token("root", "ro", actions=["pull"]).secret
    for secret in (limited_repos, limited_actions):
        response = await api.call("GET", "/users", headers={"authorization": f"Bearer {secret}"})
        assert_error(response, 403, "forbidden", "unrestricted token")


async def test_revoked_token_and_disabled_admin_are_401(api: Api) -> None:
    accounts = api.runtime.accounts
    spare = accounts.create_token("root", "spare")
    accounts.revoke_token(spare.view.id)
    response = await api.call("GET", "/whoami", headers={"authorization": f"Bearer {spare.secret}"})
    assert_error(response, 401, "unauthorized")
    accounts.create_user("ops", is_admin=True)
    ops = accounts.create_token("ops", "ops").secret
    accounts.set_enabled("ops", False)
    response = await api.call("GET", "/whoami", headers={"authorization": f"Bearer {ops}"})
    assert_error(response, 401, "unauthorized")


def test_expired_token_is_refused(runtime: Runtime) -> None:
    accounts = runtime.accounts
    accounts.create_user("root", is_admin=True)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    secret = accounts.create_token("root", "short", expires_at=soon).secret
    credentials = parse_admin_authorization(f"Bearer {secret}")
    assert verify_admin_token(runtime.database, credentials, soon - datetime.timedelta(1)).username
    with pytest.raises(AdminAuthError) as caught:
        verify_admin_token(runtime.database, credentials, soon)
    assert caught.value.status == 401
    assert caught.value.reason == "personal access token has expired"
    runtime.database.dispose()


def test_authorization_header_parsing() -> None:
    bearer = parse_admin_authorization("bearer  regauth_pat_x ")
    assert bearer.token.reveal() == "regauth_pat_x"
    assert bearer.username is None
    assert "regauth_pat_x" not in repr(bearer)
    with_user = parse_admin_authorization(basic("alice", "regauth_pat_y:z"))
    assert with_user == AdminCredentials(Secret("regauth_pat_y:z"), "alice")
    for header in (None, "", "Bearer", "Basic", "Digest x", basic("", "t"), basic("u", "")):
        with pytest.raises(AdminAuthError) as caught:
            parse_admin_authorization(header)
        assert caught.value.status == 401


async def test_openapi_and_docs_need_no_credentials(api: Api) -> None:
    anonymous = {"authorization": ""}
    document = await api.call("GET", "/openapi.json", headers=anonymous)
    assert document.status_code == 200
    schema = document.json()
    paths = schema["paths"]
    expected = {
        "/users": {"get", "post"},
        "/users/import": {"post"},
        "/users/{username}": {"get", "patch", "delete"},
        "/users/{username}/password": {"put"},
        "/groups": {"get", "post"},
        "/groups/{name}": {"get", "delete"},
        "/groups/{name}/members/{username}": {"put", "delete"},
        "/grants": {"get", "post"},
        "/grants/{grant_id}": {"delete"},
        "/robots": {"get", "post"},
        "/robots/{name}/revoke": {"post"},
        "/robots/{name}": {"delete"},
        "/tokens": {"get", "post"},
        "/tokens/{token_id}": {"delete"},
        "/refresh-tokens": {"get", "delete"},
        "/refresh-tokens/{token_id}": {"delete"},
        "/sessions": {"get", "delete"},
        "/sessions/{session_id}": {"delete"},
        "/lockouts": {"get"},
        "/lockouts/{target}": {"delete"},
        "/audit": {"get"},
        "/events": {"get"},
        "/repositories": {"get"},
        "/repositories/{name}": {"get"},
        "/keys": {"get", "post"},
        "/keys/{kid}/activate": {"post"},
        "/keys/{kid}/retire": {"post"},
        "/whoami": {"get"},
    }
    assert {p.removeprefix(API): set(ops) for p, ops in paths.items()} == expected
    assert "422" not in json.dumps(paths)
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "basic"}
    create_user = paths[API + "/users"]["post"]
    assert {"201", "400", "401", "403", "409"} <= set(create_user["responses"])
    docs = await api.call("GET", "/docs", headers=anonymous)
    assert docs.status_code == 200
    assert f"{API}/openapi.json" in docs.text


async def test_path_prefix(make_runtime: RuntimeFactory, client_for: ClientFor) -> None:
    runtime = make_runtime({"server": {"path_prefix": "/regauth"}})
    runtime.accounts.create_user("root", is_admin=True)
    token = runtime.accounts.create_token("root", "t").secret
    client = client_for(runtime)
    auth = {"authorization": f"Bearer {token}"}
    assert (await client.get("/regauth/api/v1/whoami", headers=auth)).status_code == 200
    assert (await client.get("/api/v1/whoami", headers=auth)).status_code == 404
    schema = (await client.get("/regauth/api/v1/openapi.json")).json()
    assert "/regauth/api/v1/users" in schema["paths"]


# ---------------------------------------------------------------------------------------- users


async def test_user_lifecycle(api: Api) -> None:
    created = await api.call(
        "POST",
        "/users",
        json={"username": "alice", "password": "alice-pw-1", "email": "alice@example.com"},
    )
    assert created.status_code == 201
    assert created.json()["username"] == "alice"
    assert created.json()["has_password"] is True
    assert "alice-pw-1" not in created.text
    assert_error(
        await api.call("POST", "/users", json={"username": "alice"}), 409, "conflict", "alice"
    )
    listed = await api.call("GET", "/users")
    assert [u["username"] for u in listed.json()] == ["alice", "root"]
    fetched = await api.call("GET", "/users/alice")
    assert fetched.json()["email"] == "alice@example.com"

    patched = await api.call("PATCH", "/users/alice", json={"is_admin": True, "enabled": False})
    assert patched.status_code == 200
    assert (patched.json()["is_admin"], patched.json()["enabled"]) == (True, False)
    cleared = await api.call("PATCH", "/users/alice", json={"email": None})
    assert cleared.json()["email"] is None
    assert cleared.json()["is_admin"] is True  # untouched
    unchanged = await api.call("PATCH", "/users/alice", json={})
    assert unchanged.status_code == 200

    password = await api.call("PUT", "/users/alice/password", json={"password": "new-pw-2"})
    assert password.status_code == 200
    assert password.json()["password_changed_at"] >= created.json()["password_changed_at"]
    assert_error(
        await api.call("PUT", "/users/alice/password", json={"password": ""}),
        400,
        "invalid_request",
        "password",
    )

    deleted = await api.call("DELETE", "/users/alice")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await api.call("GET", "/users/alice"), 404, "not_found", "alice")
    assert_error(await api.call("DELETE", "/users/alice"), 404, "not_found")
    assert_error(await api.call("PATCH", "/users/alice", json={"enabled": True}), 404, "not_found")
    assert_error(
        await api.call("PUT", "/users/alice/password", json={"password": "x"}), 404, "not_found"
    )


async def test_admin_cannot_lock_themselves_out(api: Api) -> None:
    assert_error(await api.call("DELETE", "/users/root"), 409, "conflict", "yourself")
    for change in ({"is_admin": False}, {"enabled": False}):
        assert_error(await api.call("PATCH", "/users/root", json=change), 409, "conflict")
    assert (await api.call("GET", "/whoami")).status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"username": "bad name"}, "invalid username"),
        ({"username": "-x"}, "invalid username"),
        ({"username": "Bob"}, "repository path component"),
        ({"username": "bob@example.com"}, "invalid username 'bob@example.com'"),
        ({"username": "a..b"}, "invalid username"),
        ({}, "body.username: field required"),
        ({"username": "ok", "extra": 1}, "body.extra: extra inputs are not permitted"),
        ({"username": 5}, "body.username: input should be a valid string"),
        ({"username": "ok", "is_admin": "yes"}, "body.is_admin: input should be a valid boolean"),
        ({"username": "ok", "is_admin": 1}, "body.is_admin"),
        ({"username": "x" * 129}, "body.username: string should have at most 128 characters"),
        ({"username": "ok", "password": "p" * 1025}, "body.password"),
        ({"username": "ok", "email": "not-an-address"}, "invalid email"),
        ({"username": "ok", "email": "a\x00@b"}, "body.email"),
    ],
)
async def test_create_user_rejects_bad_input(api: Api, body: Any, fragment: str) -> None:
    assert_error(await api.call("POST", "/users", json=body), 400, "invalid_request", fragment)
    assert [u["username"] for u in (await api.call("GET", "/users")).json()] == ["root"]


async def test_import_users(api: Api) -> None:
    api.runtime.accounts.create_user("old")
    body = {
        "users": [
            {"username": "old", "password_hash": bcrypt_hash("old-pw")},
            {"username": "new", "password_hash": bcrypt_hash("new-pw")},
        ]
    }
    response = await api.call("POST", "/users/import", json=body)
    assert response.status_code == 200
    assert response.json() == {"created": ["new"], "skipped": ["old"]}
    replaced = await api.call("POST", "/users/import", json={**body, "replace": True})
    assert replaced.json() == {"created": ["old", "new"], "skipped": []}
    bad = {"users": [{"username": "x", "password_hash": "md5:abc"}]}
    assert_error(await api.call("POST", "/users/import", json=bad), 400, "invalid_request", "hash")
    assert_error(
        await api.call("POST", "/users/import", json={"users": [{"username": "x"}]}),
        400,
        "invalid_request",
        "body.users.0.password_hash: field required",
    )


# --------------------------------------------------------------------------------------- groups


async def test_group_lifecycle(api: Api) -> None:
    api.runtime.accounts.create_user("bob")
    created = await api.call("POST", "/groups", json={"name": "devs", "description": "builders"})
    assert created.status_code == 201
    assert created.json() == {
        "name": "devs",
        "description": "builders",
        "source": "local",
        "members": [],
    }
    assert_error(await api.call("POST", "/groups", json={"name": "devs"}), 409, "conflict")
    added = await api.call("PUT", "/groups/devs/members/bob")
    assert added.status_code == 200
    assert added.json()["members"] == ["bob"]
    assert (await api.call("GET", "/users/bob")).json()["groups"] == ["devs"]
    assert [g["name"] for g in (await api.call("GET", "/groups")).json()] == ["devs"]
    assert (await api.call("GET", "/groups/devs")).json()["members"] == ["bob"]
    assert (await api.call("DELETE", "/groups/devs/members/bob")).status_code == 204
    assert_error(await api.call("DELETE", "/groups/devs/members/bob"), 404, "not_found")
    assert_error(await api.call("PUT", "/groups/devs/members/nobody"), 404, "not_found", "user")
    assert_error(await api.call("PUT", "/groups/none/members/bob"), 404, "not_found", "group")
    assert (await api.call("DELETE", "/groups/devs")).status_code == 204
    assert_error(await api.call("GET", "/groups/devs"), 404, "not_found", "devs")
    assert_error(await api.call("DELETE", "/groups/devs"), 404, "not_found")


async def test_group_names_with_slashes(api: Api) -> None:
    api.runtime.accounts.create_user("bob")
    # an administrator's new group is a path component; a provider's keeps its spelling
    refused = await api.call("POST", "/groups", json={"name": "/org/team"})
    assert_error(refused, 400, "invalid_request", "repository path component")
    api.runtime.accounts.create_group("/org/team", source="github")
    added = await api.call("PUT", "/groups//org/team/members/bob")
    assert added.json() == {
        "name": "/org/team",
        "description": None,
        "source": "github",
        "members": ["bob"],
    }
    assert (await api.call("GET", "/groups//org/team")).json()["name"] == "/org/team"
    assert (await api.call("DELETE", "/groups//org/team")).status_code == 204


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "a:b"}, "invalid group name"),
        ({"name": "Devs"}, "invalid group name 'Devs'"),
        ({"name": ""}, "invalid group name"),
        ({"name": "g", "description": "d" * 501}, "body.description"),
        ({"name": "g", "members": []}, "body.members: extra inputs are not permitted"),
    ],
)
async def test_create_group_rejects_bad_input(api: Api, body: Any, fragment: str) -> None:
    assert_error(await api.call("POST", "/groups", json=body), 400, "invalid_request", fragment)


# --------------------------------------------------------------------------------------- grants


async def test_grant_lifecycle(api: Api) -> None:
    accounts = api.runtime.accounts
    accounts.create_user("bob")
    accounts.create_group("devs")
    accounts.create_robot("ci")
    ids = {}
    for subject, body in (
        ("user", {"user": "bob", "pattern": "bob/*", "role": "push"}),
        ("group", {"group": "devs", "pattern": "team/*", "role": "pull"}),
        ("robot", {"robot": "ci", "pattern": "team/app", "role": "push"}),
        ("public", {"public": True, "pattern": "public/*", "role": "pull"}),
        ("authenticated", {"authenticated": True, "pattern": "shared/*", "role": "push"}),
    ):
        response = await api.call("POST", "/grants", json=body)
        assert response.status_code == 201, response.text
        grant = response.json()
        assert grant["subject_type"] == subject
        assert grant["created_by"] == "root"
        ids[subject] = grant["id"]
        # the same grant again is a duplicate: 409 naming the grant it repeats
        again = await api.call("POST", "/grants", json=body)
        assert_error(again, 409, "conflict", f"already has role {body['role']}", str(grant["id"]))
    assert len((await api.call("GET", "/grants")).json()) == 5
    other_role = {"group": "devs", "pattern": "team/*", "role": "push"}  # not a duplicate
    assert (await api.call("POST", "/grants", json=other_role)).status_code == 201
    mine = (await api.call("GET", "/grants", params={"user": "bob"})).json()
    assert [(g["subject"], g["pattern"], g["role"]) for g in mine] == [("bob", "bob/*", "push")]
    by_devs = (await api.call("GET", "/grants?group=devs")).json()
    assert [g["id"] for g in by_devs][:1] == [ids["group"]]
    assert [g["id"] for g in (await api.call("GET", "/grants?robot=ci")).json()] == [ids["robot"]]
    assert_error(await api.call("GET", "/grants?user=nobody"), 404, "not_found", "nobody")

    assert (await api.call("DELETE", f"/grants/{ids['user']}")).status_code == 204
    assert_error(await api.call("DELETE", f"/grants/{ids['user']}"), 404, "not_found")
    assert_error(await api.call("DELETE", "/grants/424242"), 404, "not_found", "424242")
    assert_error(await api.call("DELETE", "/grants/abc"), 400, "invalid_request", "grant_id")
    assert_error(await api.call("DELETE", "/grants/" + "9" * 30), 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"user": "bob", "pattern": "Bad Pattern!", "role": "pull"}, 400, "repository pattern"),
        ({"user": "bob", "pattern": "a//b", "role": "pull"}, 400, "repository pattern"),
        ({"user": "bob", "pattern": "a/*", "role": "owner"}, 400, "body.role"),
        ({"user": "bob", "pattern": "a/*", "role": 1}, 400, "body.role"),
        ({"user": "bob", "group": "devs", "pattern": "a", "role": "pull"}, 400, "exactly one"),
        ({"pattern": "a", "role": "pull"}, 400, "exactly one"),
        ({"public": True, "pattern": "a", "role": "push"}, 400, "anonymous pull"),
        ({"public": True, "authenticated": True, "pattern": "a", "role": "pull"}, 400, "exactly"),
        ({"user": "bob", "authenticated": True, "pattern": "a", "role": "pull"}, 400, "exactly"),
        ({"user": "bob", "pattern": "a", "role": "pull", "why": "x"}, 400, "body.why"),
        ({"user": "nobody", "pattern": "a", "role": "pull"}, 404, "nobody"),
        ({"group": "nogroup", "pattern": "a", "role": "pull"}, 404, "nogroup"),
        ({"robot": "norobot", "pattern": "a", "role": "pull"}, 404, "norobot"),
    ],
)
async def test_create_grant_rejects_bad_input(
    api: Api, body: Any, status: int, fragment: str
) -> None:
    api.runtime.accounts.create_user("bob")
    api.runtime.accounts.create_group("devs")
    code = "invalid_request" if status == 400 else "not_found"
    assert_error(await api.call("POST", "/grants", json=body), status, code, fragment)
    assert (await api.call("GET", "/grants")).json() == []


# --------------------------------------------------------------------------------------- robots


async def test_robot_lifecycle_and_token_endpoint(api: Api) -> None:
    created = await api.call(
        "POST",
        "/robots",
        json={
            "name": "ci",
            "description": "the build",
            "expires_in": "30d",
            "grants": [{"pattern": "team/*", "role": "push"}],
        },
    )
    assert created.status_code == 201
    robot = created.json()
    secret = robot["secret"]
    assert secret.startswith("regauth_robot_")
    assert robot["username"] == "robot+ci"
    assert robot["created_by"] == "root"
    assert robot["grants"] == ["push on team/*"]
    expires = datetime.datetime.fromisoformat(robot["expires_at"])
    in_30_days = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    assert abs((expires - in_30_days).total_seconds()) < 60
    assert_error(await api.call("POST", "/robots", json={"name": "ci"}), 409, "conflict")

    listed = await api.call("GET", "/robots")
    assert [r["name"] for r in listed.json()] == ["ci"]
    assert secret not in listed.text
    assert "secret" not in listed.json()[0]

    # the robot logs in at the token endpoint at once, with the grants it was created with
    params = {"service": "registry", "scope": "repository:team/app:pull,push"}
    response = await api.client.get(
        "/auth", params=params, headers={"authorization": basic("robot+ci", secret)}
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["sub"] == "robot+ci"
    assert sorted(claims["access"][0]["actions"]) == ["pull", "push"]

    revoked = await api.call("POST", "/robots/ci/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await api.client.get(
        "/auth", params=params, headers={"authorization": basic("robot+ci", secret)}
    )
    assert refused.status_code == 401

    assert (await api.call("DELETE", "/robots/ci")).status_code == 204
    assert_error(await api.call("DELETE", "/robots/ci"), 404, "not_found", "ci")
    assert_error(await api.call("POST", "/robots/ci/revoke"), 404, "not_found", "ci")


async def test_robot_expiry_forms(api: Api) -> None:
    at = await api.call("POST", "/robots", json={"name": "a", "expires_at": "2099-01-31"})
    assert at.json()["expires_at"] == "2099-01-31T00:00:00Z"
    zoned = await api.call(
        "POST", "/robots", json={"name": "b", "expires_at": "2099-01-31T12:00:00+02:00"}
    )
    assert zoned.json()["expires_at"] == "2099-01-31T10:00:00Z"
    never = await api.call("POST", "/robots", json={"name": "c"})
    assert never.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "Bad_Name"}, "invalid robot name"),
        ({"name": "r", "expires_in": "soon"}, "body.expires_in: not a duration"),
        ({"name": "r", "expires_in": "0d"}, "future"),
        ({"name": "r", "expires_in": "9" * 30 + "d"}, "body.expires_in: duration"),
        ({"name": "r", "expires_in": "99999999999d"}, "longer than 36500d (100 years)"),
        ({"name": "r", "expires_in": "36501d"}, "body.expires_in: duration '36501d' is longer"),
        ({"name": "r", "expires_at": "2999-01-31"}, "body.expires_at: the expiry is more than 100"),
        ({"name": "r", "expires_at": "9999-12-31T23:59:59-05:00"}, "body.expires_at: out of"),
        ({"name": "r", "expires_at": "0001-01-01T00:00:00+05:00"}, "body.expires_at: out of range"),
        ({"name": "r", "expires_at": "yesterday"}, "body.expires_at: not an ISO 8601"),
        ({"name": "r", "expires_at": "2001-01-01T00:00:00Z"}, "future"),
        ({"name": "r", "expires_at": "2999-01-01", "expires_in": "1d"}, "not expires_at and"),
        ({"name": "r", "grants": [{"pattern": "a", "role": "root"}]}, "body.grants.0.role"),
        ({"name": "r", "grants": [{"pattern": "A B", "role": "pull"}]}, "repository pattern"),
        ({"name": "r", "grants": {"pattern": "a"}}, "body.grants: input should be a valid list"),
        ({"name": "r", "secret": "mine"}, "body.secret: extra inputs are not permitted"),
        ({"name": "CI"}, "invalid robot name 'CI'"),
    ],
)
async def test_create_robot_rejects_bad_input(api: Api, body: Any, fragment: str) -> None:
    assert_error(await api.call("POST", "/robots", json=body), 400, "invalid_request", fragment)
    assert (await api.call("GET", "/robots")).json() == []


# ---------------------------------------------------------------------- personal access tokens


async def test_token_lifecycle_and_revocation_at_the_token_endpoint(api: Api) -> None:
    api.runtime.accounts.create_user("bob")
    api.runtime.accounts.add_grant(user="bob", pattern="bob/*", role="push")
    await api.runtime.watcher.poll_once()
    created = await api.call(
        "POST",
        "/tokens",
        json={
            "user": "bob",
            "name": "laptop",
            "expires_in": "90d",
            "repositories": ["bob/*"],
            "actions": ["pull"],
        },
    )
    assert created.status_code == 201, created.text
    token = created.json()
    secret = token["secret"]
    assert secret.startswith("regauth_pat_")
    assert (token["user"], token["repositories"], token["actions"]) == ("bob", ["bob/*"], ["pull"])
    listed = await api.call("GET", "/tokens", params={"user": "bob"})
    assert [t["id"] for t in listed.json()] == [token["id"]]
    assert secret not in listed.text
    everyone = (await api.call("GET", "/tokens")).json()
    assert {t["user"] for t in everyone} == {"bob", "root"}

    params = {"service": "registry", "scope": "repository:bob/app:pull,push"}
    auth = {"authorization": basic("bob", secret)}
    ok = await api.client.get("/auth", params=params, headers=auth)
    assert ok.status_code == 200
    claims = jwt.decode(ok.json()["token"], options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["pull"]  # the token's limit

    assert (await api.call("DELETE", f"/tokens/{token['id']}")).status_code == 204
    refused = await api.client.get("/auth", params=params, headers=auth)
    assert refused.status_code == 401
    revoked = (await api.call("GET", "/tokens?user=bob")).json()[0]
    assert revoked["revoked_at"] is not None
    assert_error(await api.call("DELETE", "/tokens/999"), 404, "not_found", "999")
    assert_error(await api.call("GET", "/tokens?user=nobody"), 404, "not_found", "nobody")


async def test_a_token_revoked_through_the_api_stops_the_api_too(api: Api) -> None:
    whoami = await api.call("GET", "/whoami")
    assert whoami.status_code == 200
    own = (await api.call("GET", "/tokens?user=root")).json()
    assert (await api.call("DELETE", f"/tokens/{own[0]['id']}")).status_code == 204
    assert_error(await api.call("GET", "/whoami"), 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"user": "bob", "name": "t", "actions": ["pull", "sudo"]}, 400, "body.actions.1"),
        ({"user": "bob", "name": "t", "actions": []}, 400, "at least one action"),
        ({"user": "bob", "name": "t", "repositories": []}, 400, "at least one pattern"),
        ({"user": "bob", "name": "t", "repositories": ["Bad!"]}, 400, "repository pattern"),
        ({"user": "bob", "name": "t", "repositories": "a/*"}, 400, "body.repositories"),
        ({"user": "bob", "name": "\x01"}, 400, "token name"),
        ({"user": "bob", "name": "n" * 129}, 400, "body.name"),
        ({"user": "bob"}, 400, "body.name: field required"),
        ({"user": "bob", "name": "t", "expires_in": "-1d"}, 400, "body.expires_in"),
        ({"user": "bob", "name": "t", "scopes": ["x"]}, 400, "body.scopes"),
        ({"user": "nobody", "name": "t"}, 404, "nobody"),
    ],
)
async def test_create_token_rejects_bad_input(
    api: Api, body: Any, status: int, fragment: str
) -> None:
    api.runtime.accounts.create_user("bob")
    code = "invalid_request" if status == 400 else "not_found"
    assert_error(await api.call("POST", "/tokens", json=body), status, code, fragment)
    assert (await api.call("GET", "/tokens?user=bob")).json() == []


# ------------------------------------------------------------------------------- refresh tokens


async def _refresh_token(api: Api) -> str:
    response = await api.client.post(
        "/auth",
        data={
            "grant_type": "password",
            "username": "carol",
            "password": "carol-pw",
            "service": "registry",
            "client_id": "test",
            "access_type": "offline",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


async def test_refresh_tokens(api: Api) -> None:
    api.runtime.accounts.create_user("carol", password_hash=bcrypt_hash("carol-pw"))
    first = await _refresh_token(api)
    listed = (await api.call("GET", "/refresh-tokens", params={"user": "carol"})).json()
    assert [(t["user"], t["client_id"], t["revoked_at"]) for t in listed] == [
        ("carol", "test", None)
    ]
    assert first not in json.dumps(listed)
    assert (await api.call("DELETE", f"/refresh-tokens/{listed[0]['id']}")).status_code == 204
    assert (await api.call("GET", "/refresh-tokens")).json()[0]["revoked_at"] is not None
    exchange = {"grant_type": "refresh_token", "refresh_token": first, "service": "registry"}
    assert (await api.client.post("/auth", data=exchange)).status_code == 400

    await _refresh_token(api)
    await _refresh_token(api)
    assert (
        await api.call("DELETE", "/refresh-tokens", params={"user": "carol"})
    ).status_code == 204
    tokens = (await api.call("GET", "/refresh-tokens?user=carol")).json()
    assert len(tokens) == 3
    assert all(t["revoked_at"] is not None for t in tokens)

    assert_error(await api.call("DELETE", "/refresh-tokens/999"), 404, "not_found")
    assert_error(await api.call("DELETE", "/refresh-tokens?user=nobody"), 404, "not_found")
    assert_error(await api.call("DELETE", "/refresh-tokens"), 400, "invalid_request", "query.user")


# ---------------------------------------------------------------------------------------- audit


async def test_audit(api: Api) -> None:
    api.runtime.accounts.create_user("carol", password_hash=bcrypt_hash("carol-pw"))
    params = {"service": "registry", "scope": "repository:team/app:pull"}
    await api.client.get("/auth", params=params, headers={"authorization": basic("carol", "no")})
    await api.client.get(
        "/auth", params=params, headers={"authorization": basic("carol", "carol-pw")}
    )
    api.runtime.writer.flush()
    events = (await api.call("GET", "/audit", params={"account": "carol"})).json()
    assert [e["outcome"] for e in events] == ["denied", "rejected"]  # newest first
    assert events[0]["scopes"][0]["name"] == "team/app"
    denied = (await api.call("GET", "/audit?outcome=rejected")).json()
    assert [e["status"] for e in denied] == [401]
    by_repo = (await api.call("GET", "/audit", params={"repository": "team/app"})).json()
    assert len(by_repo) == 2
    assert len((await api.call("GET", "/audit?limit=1")).json()) == 1
    since = {"since": "2999-01-01T00:00:00Z"}
    assert (await api.call("GET", "/audit", params=since)).json() == []
    window = {"since": "2000-01-01", "until": "2999-01-01T00:00:00+01:00"}
    assert len((await api.call("GET", "/audit", params=window)).json()) == 2
    for query, fragment in (
        ({"outcome": "maybe"}, "query.outcome"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"since": "last tuesday"}, "query.since: not an ISO 8601"),
    ):
        assert_error(
            await api.call("GET", "/audit", params=query), 400, "invalid_request", fragment
        )


# --------------------------------------------------------------------------------------- errors


async def test_bodies_that_are_not_json_objects(api: Api) -> None:
    json_type = {"content-type": "application/json"}
    malformed = await api.call("POST", "/users", content=b'{"username": ', headers=json_type)
    assert_error(malformed, 400, "invalid_json", "not valid JSON")
    text = await api.call(
        "POST", "/users", content=b"username=x", headers={"content-type": "text/plain"}
    )
    assert_error(text, 400, "invalid_request", "must be JSON")
    untyped = await api.call("POST", "/users", content=b'{"username": "x"}')
    assert untyped.status_code == 400
    for body in (b"[1, 2]", b'"alice"', b"42", b"null"):
        response = await api.call("POST", "/users", content=body, headers=json_type)
        assert_error(response, 400, "invalid_request", "body")
    empty = await api.call("POST", "/users")
    assert_error(empty, 400, "invalid_request", "body: a JSON object is required")
    nested = await api.call("POST", "/robots", json={"name": "r", "grants": ["team/*"]})
    assert_error(nested, 400, "invalid_request", "body.grants.0")


async def test_unknown_routes_and_methods(api: Api) -> None:
    assert_error(await api.call("GET", "/nope"), 404, "not_found", "/api/v1/nope")
    assert_error(await api.client.get("/api/v2/users"), 404, "not_found")
    assert_error(await api.client.get("/api"), 404, "not_found")
    wrong = await api.call("PUT", "/users")
    assert_error(wrong, 405, "method_not_allowed", "PUT")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert_error(await api.call("POST", "/whoami"), 405, "method_not_allowed")
    # without credentials nothing is revealed, not even whether the route exists
    assert_error(
        await api.client.get(API + "/nope", headers={"authorization": ""}), 401, "unauthorized"
    )


async def test_failures_inside_are_json_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)

    def broken() -> None:
        raise RuntimeError("boom: internal detail")

    def unavailable() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(api.runtime.accounts, "list_users", broken)
    monkeypatch.setattr(api.runtime.accounts, "list_groups", unavailable)
    failed = await api.call("GET", "/users")
    assert_error(failed, 500, "internal_error")
    assert "boom" not in failed.text
    assert_error(await api.call("GET", "/groups"), 503, "unavailable", "database")
    assert "boom" not in stream.getvalue()
    assert '"error_type":"RuntimeError"' in stream.getvalue()


async def test_oversized_body_is_413(api: Api) -> None:
    body = {"users": [{"username": f"u{i}", "password_hash": "x" * 200} for i in range(12000)]}
    response = await api.call("POST", "/users/import", json=body)
    assert_error(response, 413, "payload_too_large")


# ------------------------------------------------------------------------------------- the logs


async def test_one_log_line_per_request_and_no_secrets(api: Api) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    api.runtime.accounts.create_user("bob")
    robot = (await api.call("POST", "/robots", json={"name": "ci"})).json()["secret"]
    token = (await api.call("POST", "/tokens", json={"user": "bob", "name": "t"})).json()["secret"]
    await api.call("POST", "/users", json={"username": "dave", "password": "dave-secret-pw"})
    await api.call("PUT", "/users/dave/password", json={"password": "dave-next-secret"})
    await api.call("POST", "/users", json={"username": "bad name", "password": "bad-secret-pw"})
    await api.call("GET", "/robots")
    await api.call("GET", "/tokens")
    await api.call("GET", "/whoami", headers={"authorization": basic("root", api.token)})
    await api.call("GET", "/whoami", headers={"authorization": "Bearer regauth_pat_wrong-one"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    admin_lines = [line for line in lines if line["event"] == "admin"]
    assert len(admin_lines) == 9
    assert admin_lines[0]["admin"] == "root"
    assert admin_lines[0]["method"] == "POST"
    assert admin_lines[0]["path"] == "/api/v1/robots"
    assert admin_lines[0]["status"] == 201
    assert admin_lines[-1]["status"] == 401
    assert admin_lines[-1]["reason"] == "unknown personal access token"
    text = stream.getvalue()
    for secret in (
        api.token,
        api.token.removeprefix("regauth_pat_"),
        robot,
        token,
        "dave-secret-pw",
        "dave-next-secret",
        "bad-secret-pw",
        "regauth_pat_wrong-one",
        "Bearer",
        "Basic ",
    ):
        assert secret not in text


def test_fastapi_is_imported_only_when_the_api_is_used() -> None:
    code = (
        "import sys, regauth.cli, regauth.web.app, regauth.serve\n"
        "assert 'fastapi' not in sys.modules, 'fastapi imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_concrete_paths_come_before_templates(api: Api) -> None:
    """As OpenAPI matches paths (found by schemathesis): /users/import is the import, whatever
    the method, never a user named 'import'; the 405 names that route's methods only."""
    response = await api.call("GET", "/users/import")
    assert_error(response, 405, "method_not_allowed", "use POST")
    assert response.headers["allow"] == "POST"
    members = await api.call("OPTIONS", "/groups/a/members/b")
    assert_error(members, 405, "method_not_allowed")
    assert members.headers["allow"] == "DELETE, PUT"
    group = await api.call("PUT", "/groups/a")
    assert group.headers["allow"] == "DELETE, GET"
    assert (await api.call("GET", "/users/root")).status_code == 200


async def test_document_states_either_or_fields_and_names(api: Api) -> None:
    document = (await api.client.get(API + "/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert len(schemas["GrantCreate"]["oneOf"]) == 5  # user, group, robot, public, authenticated
    expiries = [set(option["required"]) for option in schemas["RobotCreate"]["not"]["anyOf"]]
    assert expiries == [
        {"expires", "expires_at"},
        {"expires", "expires_in"},
        {"expires_at", "expires_in"},
    ]
    token_rules = schemas["TokenCreate"]["allOf"]
    assert [set(o["required"]) for o in token_rules[0]["not"]["anyOf"]] == expiries
    assert token_rules[1]["not"]["required"] == ["read_only", "actions"]
    username = schemas["UserCreate"]["properties"]["username"]
    assert username["pattern"].startswith("^[a-z0-9]+")  # a new name: a path component
    assert schemas["GrantCreate"]["properties"]["user"]["anyOf"][0]["pattern"].startswith(
        "^[A-Za-z0-9]"
    )  # an existing user may have an older name
    assert schemas["GroupCreate"]["properties"]["name"]["pattern"].startswith("^[a-z0-9]+")


async def test_sessions_are_listed_and_ended(api: Api) -> None:
    """Console and device sessions: listed with their kind and last use, ended one by one or
    all of a user's."""
    from regauth.accounts import SessionStart

    accounts = api.runtime.accounts
    accounts.create_user("alice", password="alice-password-1")
    for kind in ("browser", "device"):
        accounts.start_console_session(
            SessionStart(username="alice", method="database", kind=kind, client_name="laptop"),
            absolute_lifetime=datetime.timedelta(days=1),
            max_per_user=5,
        )
    listed = await api.call("GET", "/sessions", params={"user": "alice"})
    assert listed.status_code == 200
    assert sorted(s["kind"] for s in listed.json()) == ["browser", "device"]
    devices = await api.call("GET", "/sessions", params={"kind": "device"})
    (device,) = devices.json()
    assert device["client_name"] == "laptop" and "token_hash" not in device
    assert (await api.call("DELETE", f"/sessions/{device['id']}")).status_code == 204
    assert (await api.call("DELETE", "/sessions/999999")).status_code == 404
    assert (await api.call("DELETE", "/sessions", params={"user": "alice"})).status_code == 204
    assert (await api.call("GET", "/sessions", params={"user": "alice"})).json() == []
    bad = await api.call("GET", "/sessions", params={"kind": "toaster"})
    assert bad.status_code == 400
