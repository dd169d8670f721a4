"""The signing keys through the admin API (``/api/v1/keys``), and two runtimes on one PostgreSQL
database sharing them: both start on the empty database with keys of their own and sign with
the same one; a key added and activated through one is published and signing on the other.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509

from regauth.config import parse_config
from regauth.datadir import DataDir
from regauth.keys import KeyMaterial, generate_key_pair
from regauth.runtime import Runtime, build_runtime
from regauth.web.app import create_app
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.postgres import PostgresCluster

API = "/api/v1"
PASSWORD = "alice-pw"
CONFIG: dict[str, Any] = {
    "users": {"alice": {"password": bcrypt_hash(PASSWORD)}},
    "acl": [{"match": {"account": "alice"}, "actions": ["*"]}],
}


def client_of(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime), client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://regauth.test")


def admin_headers(runtime: Runtime) -> dict[str, str]:
    runtime.accounts.create_user("root", is_admin=True)
    return {"authorization": "Bearer " + runtime.accounts.create_token("root", "api").secret}


async def token_kid(client: httpx.AsyncClient) -> str:
    response = await client.get(
        "/auth",
        params={"service": "registry", "scope": "repository:alice/app:pull"},
        auth=("alice", PASSWORD),
    )
    assert response.status_code == 200, response.text
    return str(jwt.get_unverified_header(response.json()["token"])["kid"])


async def served_kids(client: httpx.AsyncClient) -> list[str]:
    return [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]


def assert_error(response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and fragment in body["message"], body
    assert "Traceback" not in response.text


# ------------------------------------------------------------------------------- the admin API


async def test_keys_api(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    runtime = make_runtime(CONFIG)
    headers = admin_headers(runtime)
    async with client_of(runtime) as client:

        async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            return await client.request(method, API + path, headers=headers, **kwargs)

        (first,) = (await call("GET", "/keys")).json()
        assert first["state"] == "active" and "private" not in str(first).lower()
        assert (await client.get(API + "/keys")).status_code == 401  # admins only

        created = await call("POST", "/keys")  # no body: a new key of token.algorithm
        assert created.status_code == 201, created.text
        added = created.json()
        assert added["state"] == "published" and added["algorithm"] == "ES256"
        # this process applied its own change before answering
        assert await served_kids(client) == [first["kid"], added["kid"]]
        assert await token_kid(client) == first["kid"]

        activated = await call("POST", f"/keys/{added['thumbprint'][:10]}/activate")
        assert activated.status_code == 200 and activated.json()["state"] == "active"
        assert await token_kid(client) == added["kid"]
        assert_error(
            await call("POST", f"/keys/{added['kid']}/retire"), 409, "conflict", "active signing"
        )
        retired = await call("POST", f"/keys/{first['libtrust_kid']}/retire")
        assert retired.status_code == 200 and retired.json()["published"] is True
        assert first["kid"] in await served_kids(client)

        assert_error(await call("POST", "/keys/nope-nope/activate"), 404, "not_found", "no signing")
        assert_error(await call("POST", "/keys/ab/activate"), 400, "invalid_request", "at least 4")
        rsa = await call("POST", "/keys", json={"algorithm": "RS256"})
        assert rsa.status_code == 201 and rsa.json()["algorithm"] == "RS256"

        material = KeyMaterial.generate("ES256")
        imported = await call(
            "POST",
            "/keys",
            json={
                "private_key": material.private_pem().decode(),
                "certificate": material.chain_pem().decode(),
            },
        )
        assert imported.status_code == 201 and imported.json()["thumbprint"] == material.thumbprint
        assert material.private_pem().decode() not in imported.text
        again = await call("POST", "/keys", json={"private_key": material.private_pem().decode()})
        assert_error(again, 409, "conflict", "already in the key set")
        for body, fragment in (
            ({"private_key": "garbage"}, "private_key: not an unencrypted PEM private key"),
            ({"certificate": material.chain_pem().decode()}, "only with private_key"),
            ({"algorithm": "HS256"}, "algorithm"),
            ({"private_key": ""}, "private_key"),
            ({"colour": "blue"}, "colour"),
            (
                {"private_key": material.private_pem().decode(), "algorithm": "RS256"},
                "RS256 needs an RSA key",
            ),
        ):
            assert_error(await call("POST", "/keys", json=body), 400, "invalid_request", fragment)
        assert len((await call("GET", "/keys")).json()) == 4  # the refusals changed nothing

        schema = (await client.get(API + "/openapi.json")).json()
        post = schema["paths"][API + "/keys"]["post"]
        assert {"201", "400", "401", "403", "409"} <= set(post["responses"])
        body_schema = schema["components"]["schemas"]["KeyCreate"]
        assert set(body_schema["properties"]) == {"algorithm", "private_key", "certificate"}
        assert body_schema["additionalProperties"] is False
        activate = schema["paths"][API + "/keys/{kid}/activate"]["post"]
        assert {"200", "404", "409"} <= set(activate["responses"])


async def test_keys_api_refuses_with_a_configured_key(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    key, cert = generate_key_pair(folder, "ES256")
    runtime = make_runtime({**CONFIG, "token": {"key": str(key), "certificate": str(cert)}})
    assert runtime.signing_keys is None
    headers = admin_headers(runtime)
    async with client_of(runtime) as client:
        for method, path in (
            ("GET", "/keys"),
            ("POST", "/keys"),
            ("POST", "/keys/abcd/activate"),
            ("POST", "/keys/abcd/retire"),
        ):
            response = await client.request(method, API + path, headers=headers)
            assert_error(response, 409, "keys_not_managed", "comes from token.key")


# ---------------------------------------------------------------- two runtimes, one database


async def wait_for(check: Callable[[], Awaitable[bool]], limit: float = 2.0) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > limit:
            raise AssertionError(f"not seen within {limit} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
async def two_runtimes(
    postgres: PostgresCluster, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, Runtime, list[x509.Certificate]]]:
    config = parse_config({**CONFIG, "database": {"url": postgres.create_database()}})
    folders, certificates = [], []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        _, cert = generate_key_pair(folder, "ES256")  # each an upgraded install of its own
        folders.append(DataDir(folder))
        certificates.append(x509.load_pem_x509_certificate(cert.read_bytes()))
    # both start at once on the empty database: one key wins, both use it
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda folder: build_runtime(config, folder), folders)
    await a.start()
    await b.start()
    yield a, b, certificates
    await a.stop()
    await b.stop()


async def test_two_runtimes_share_the_keys_and_follow_each_other(
    two_runtimes: tuple[Runtime, Runtime, list[x509.Certificate]],
) -> None:
    a, b, certificates = two_runtimes
    assert a.signing_key.thumbprint_kid == b.signing_key.thumbprint_kid
    assert a.signing_key.chain[0] in certificates
    keys = a.signing_keys
    assert keys is not None and len(keys.key_set()) == 1
    old = a.signing_key.kid
    headers = admin_headers(a)
    async with client_of(a) as client_a, client_of(b) as client_b:
        assert await token_kid(client_a) == await token_kid(client_b) == old
        added = (await client_a.post(API + "/keys", headers=headers)).json()

        async def b_publishes() -> bool:
            return await served_kids(client_b) == [old, added["kid"]]

        published_after = await wait_for(b_publishes)
        assert await token_kid(client_b) == old

        started = datetime.datetime.now(datetime.UTC)
        activate = await client_a.post(
            API + f"/keys/{added['thumbprint']}/activate", headers=headers
        )
        assert activate.status_code == 200
        assert await token_kid(client_a) == added["kid"]  # at once where it was made

        async def b_signs_with_the_new_key() -> bool:
            return await token_kid(client_b) == added["kid"]

        switched_after = await wait_for(b_signs_with_the_new_key)
        # and it never went back
        for _ in range(5):
            assert await token_kid(client_b) == added["kid"]
        print(
            f"instance b: published after {published_after * 1000:.0f} ms, signing after "
            f"{switched_after * 1000:.0f} ms (activated {started:%H:%M:%S})"
        )
        retire = await client_a.post(API + f"/keys/{old}/retire", headers=headers)
        assert retire.status_code == 200

        async def b_keeps_the_retired_key_published() -> bool:
            kids = await served_kids(client_b)
            return kids == [added["kid"], old]

        await wait_for(b_keeps_the_retired_key_published)
        assert len(keys.key_set()) == 2
        assert b.signing_keys is not None
        assert [r.state for r in b.signing_keys.key_set().records] == ["retired", "active"]
