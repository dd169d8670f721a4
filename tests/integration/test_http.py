"""The HTTP surface, in process: endpoints, aliases, error bodies, and the log's discretion."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from regauth.events import configure_logging
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]


def config(**extra: Any) -> dict[str, Any]:
    return {
        "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
        "acl": [
            {"match": {"account": "alice"}, "actions": ["*"]},
            {"match": {"account": "", "name": "public/*"}, "actions": ["pull"]},
        ],
        **extra,
    }


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return make_runtime(config())


@pytest.mark.parametrize("path", ["/auth", "/token", "/auth/realms/master/protocol/docker-v2/auth"])
async def test_token_endpoint_and_aliases(
    runtime: Runtime, client_for: ClientFor, path: str
) -> None:
    client = client_for(runtime)
    response = await client.get(
        path,
        params=[("service", "registry"), ("scope", "repository:a:pull"), ("account", "alice")],
        auth=("alice", "alice-pw"),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


async def test_path_prefix(make_runtime: RuntimeFactory, client_for: ClientFor) -> None:
    runtime = make_runtime(config(server={"path_prefix": "/regauth/"}))
    client = client_for(runtime)
    assert runtime.config.server.realm() == "http://127.0.0.1:5001/regauth/auth"
    assert (await client.get("/regauth/auth", auth=("alice", "alice-pw"))).status_code == 200
    assert (await client.get("/regauth/healthz")).status_code == 200
    keycloak = "/regauth/auth/realms/r/protocol/docker-v2/auth"
    assert (await client.get(keycloak, auth=("alice", "alice-pw"))).status_code == 200
    assert (await client.get("/auth", auth=("alice", "alice-pw"))).status_code == 404


async def test_wrong_password_is_401_docker_error(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).get("/auth", auth=("alice", "nope"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="regauth"'
    assert response.json() == {
        "errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]
    }


async def test_anonymous_denied_gets_basic_challenge(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    denied = await client.get("/auth", params={"scope": "repository:private/x:pull"})
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Basic realm=")
    allowed = await client.get("/auth", params={"scope": "repository:public/x:pull"})
    assert allowed.status_code == 200


async def test_malformed_scope_is_400_naming_it(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).get(
        "/auth", params={"scope": "repository:Bad_Name:pull"}, auth=("alice", "alice-pw")
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "INVALID_REQUEST"
    assert "repository:Bad_Name:pull" in error["message"]


async def test_unknown_service_is_400(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).get("/auth", params={"service": "other"})
    assert response.status_code == 400
    assert "unknown service 'other'" in response.json()["errors"][0]["message"]


async def test_non_ascii_query_is_400(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime)
    response = await client.get(httpx.URL("/auth", query=b"scope=repository:%C3%A4:pull"))
    assert response.status_code == 400


async def test_oauth2_post(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime)
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": "alice-pw",
        "service": "registry",
        "client_id": "containerd",
        "scope": "repository:a:pull,push repository:b:pull",
        "access_type": "offline",
    }
    response = await client.post("/auth", data=form)
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert [a["name"] for a in claims["access"]] == ["a", "b"]


async def test_oauth2_errors_use_oauth_bodies(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime)
    wrong = await client.post(
        "/auth", data={"grant_type": "password", "username": "alice", "password": "x"}
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "invalid username or password",
    }
    refresh = await client.post(
        "/auth",
        data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "containers/image"},
    )
    # 400 makes containerd fall back to GET
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
    json_body = await client.post("/auth", json={"grant_type": "password"})
    assert json_body.status_code == 400
    assert json_body.json()["error"] == "invalid_request"


async def test_oversized_body_is_413(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).post(
        "/auth",
        content=b"grant_type=password&x=" + b"a" * 70000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


async def test_other_methods_are_405(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).put("/auth")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_health_jwks_and_404(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [runtime.signing_key.kid]
    assert "d" not in jwks["keys"][0]  # never the private part
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NOT_FOUND"


async def test_proxy_headers_only_from_trusted_proxies(
    make_runtime: RuntimeFactory, client_for: ClientFor
) -> None:
    runtime = make_runtime(
        {
            "server": {"proxy_headers": ["X-Forwarded-For"], "trusted_proxies": ["10.0.0.0/8"]},
            "acl": [{"match": {"ip": "192.0.2.7"}, "actions": ["pull"]}],
        }
    )
    spoofed = {"x-forwarded-for": "192.0.2.7"}
    scope = {"scope": "repository:x:pull"}
    direct = client_for(runtime, client_address="198.51.100.1")
    assert (await direct.get("/auth", params=scope, headers=spoofed)).status_code == 401
    proxied = client_for(runtime, client_address="10.1.1.1")
    assert (await proxied.get("/auth", params=scope, headers=spoofed)).status_code == 200
    # a client-supplied entry left of the real client address is ignored
    chain = {"x-forwarded-for": "192.0.2.7, 203.0.113.9"}
    assert (await proxied.get("/auth", params=scope, headers=chain)).status_code == 401


async def test_one_log_line_per_request_and_no_secrets(
    runtime: Runtime, client_for: ClientFor
) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    client = client_for(runtime)
    ok = await client.get(
        "/auth",
        params={"scope": "repository:a:pull"},
        auth=("alice", "alice-pw"),
        headers={"user-agent": "skopeo/1.9.3"},
    )
    token = ok.json()["token"]
    await client.get("/auth", auth=("alice", "wrong-secret-pw"))
    await client.post(
        "/auth",
        data={"grant_type": "password", "username": "alice", "password": "posted-secret-pw"},
    )
    await client.post(
        "/auth", data={"grant_type": "refresh_token", "refresh_token": "refresh-secret-value"}
    )
    await client.get("/auth", headers={"authorization": "Bearer bearer-secret-value"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    token_lines = [line for line in lines if line["event"] == "token"]
    assert len(token_lines) == 5
    first = token_lines[0]
    assert first["account"] == "alice"
    assert first["method"] == "static"
    assert first["scopes"] == ["repository:a:pull"]
    assert first["decisions"] == [
        {"scope": "repository:a:pull", "granted": ["pull"], "rule": "acl[0]"}
    ]
    assert first["client_ip"] == "127.0.0.1"
    assert first["user_agent"] == "skopeo/1.9.3"
    assert first["latency_ms"] >= 0
    assert token_lines[1]["status"] == 401
    assert token_lines[1]["reason"] == "static: wrong password"
    text = stream.getvalue()
    for secret in (
        "alice-pw",
        "wrong-secret-pw",
        "posted-secret-pw",
        "refresh-secret-value",
        "bearer-secret-value",
        token,
        token.split(".")[2],
        "Basic YWx",
        "Bearer bearer",
    ):
        assert secret not in text
