"""Property tests over the web front: client-address headers, and the whole app in process
(token endpoint, admin API, login pages, JWKS, health, metrics) under random requests.

The app answers every request, whatever its method, path, query, headers or body, with a
status below 500 and within :data:`ANSWER_BOUND` seconds, and nothing escapes it as an
exception.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from regauth.config import parse_config
from regauth.datadir import DataDir
from regauth.runtime import Runtime, build_runtime
from regauth.web.app import create_app
from regauth.web.client_address import ClientAddressResolver
from tests.conftest import bcrypt_hash
from tests.fuzz.support import count, fuzz

#: seconds the app may take to answer one request (a password check is about 20 ms)
ANSWER_BOUND = 5.0

# ------------------------------------------------------------------------- client addresses

address = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:8080"),
    st.ip_addresses(v=4).map(lambda a: f"{a}:443"),
    st.sampled_from(["unknown", "_hidden", "", " ", "[", "]", "::ffff:10.0.0.1", "1.2.3.4%eth0"]),
    st.text(max_size=40),
)
forwarded_element = st.builds(
    lambda key, quote, value: f"{key}={quote}{value}{quote}",
    st.sampled_from(["for", "For", "by", "proto", "host", "for "]),
    st.sampled_from(["", '"']),
    address,
)
header_value = st.one_of(
    st.lists(address, max_size=8).map(", ".join),
    st.lists(st.lists(forwarded_element, max_size=3).map(";".join), max_size=5).map(", ".join),
    st.builds(lambda n: "for=" * n, st.integers(1, 3000)),
    st.text(max_size=300),
)
TRUSTED = ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]


@fuzz("client_addresses")
@given(
    st.one_of(st.none(), address, st.sampled_from(["10.1.2.3", "127.0.0.1", "::1", "8.8.8.8"])),
    st.dictionaries(
        st.sampled_from(["x-forwarded-for", "forwarded", "x-real-ip", "true-client-ip"]),
        header_value,
        max_size=4,
    ),
)
def test_client_addresses(peer: str | None, headers: dict[str, str]) -> None:
    count()
    resolver = ClientAddressResolver(["x-forwarded-for", "forwarded", "x-real-ip"], TRUSTED)
    started = time.perf_counter()
    found = resolver.resolve(peer, headers)
    assert time.perf_counter() - started < 1.0
    direct = ClientAddressResolver([], TRUSTED).resolve(peer, headers)
    trusted = direct is not None and any(
        direct in ipaddress.ip_network(n)
        for n in TRUSTED
        if direct.version == ipaddress.ip_network(n).version
    )
    if not trusted:
        assert found == direct  # only a trusted proxy may name another address
    else:
        assert found is not None


# ------------------------------------------------------------------------------ the whole app

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, httpx.AsyncClient]]:
    """The app over a fresh data folder with two static users, a database user with a token,
    and metrics on; one event loop for the module."""
    folder: Path = tmp_path_factory.mktemp("fuzz-app")
    config = parse_config(
        {
            "users": {name: {"password": bcrypt_hash(pw)} for name, pw in USERS.items()},
            "acl": [{"match": {"account": "alice"}, "actions": ["*"]}],
            "metrics": {"enabled": True},
            "server": {"proxy_headers": ["x-forwarded-for"], "trusted_proxies": ["127.0.0.1"]},
        },
        environ={},
    )
    runtime: Runtime = build_runtime(config, DataDir(folder / "data"))
    runtime.accounts.create_user("root", is_admin=True)
    runtime.accounts.create_token("root", "fuzz")
    loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=create_app(runtime), client=("127.0.0.1", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://regauth.test")
    try:
        yield loop, client
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(runtime.stop())
        loop.close()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


method = st.one_of(
    st.sampled_from(["GET", "POST", "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10),
)
path = st.one_of(
    st.sampled_from(
        [
            "/auth",
            "/token",
            "/healthz",
            "/metrics",
            "/.well-known/jwks.json",
            "/login",
            "/login/callback",
            "/login/x",
            "/api/v1/users",
            "/api/v1/whoami",
            "/api/v1/openapi.json",
            "/api/v1/tokens/1",
            "/api/",
            "/api",
            "/auth/realms/x/protocol/docker-v2/auth",
            "/",
            "/nothing",
            "/auth/",
            "//auth",
            "/api/v1/groups/a/members/b",
        ]
    ),
    st.builds(
        lambda s: "/" + s,
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60),
    ),
)
scope_value = st.one_of(
    st.sampled_from(
        [
            "repository:team/app:pull,push",
            "registry:catalog:*",
            "repository:a:frob",
            "foo:bar:pull",
            "repository:A:pull",
            "repository::pull",
            ":::",
        ]
    ),
    st.text(max_size=60),
)
query = st.one_of(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["service", "scope", "account", "client_id", "offline_token", "registry", "x"]
            ),
            st.one_of(st.just("registry"), scope_value, st.text(max_size=30)),
        ),
        max_size=8,
    ).map(urlencode),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=200
    ),
)
authorization = st.one_of(
    st.none(),
    st.sampled_from([*USERS.items(), ("alice", "wrong"), ("nobody", "x"), ("robot+ci", "x")]).map(
        lambda pair: basic(*pair)
    ),
    st.builds(basic, st.text(max_size=30), st.text(max_size=30)),
    st.builds(lambda t: f"Bearer {t}", st.text(max_size=60)),
    st.text(max_size=80),
)
form = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "grant_type",
                "username",
                "password",
                "refresh_token",
                "service",
                "scope",
                "access_type",
                "client_id",
            ]
        ),
        st.one_of(
            st.sampled_from(
                ["password", "refresh_token", "alice", "alice-pw", "registry", "offline"]
            ),
            scope_value,
            st.text(max_size=30),
        ),
    ),
    max_size=8,
).map(lambda pairs: urlencode(pairs).encode())
body = st.one_of(st.just(b""), form, st.binary(max_size=300), st.just(b'{"username": "x"}'))
content_type = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded; charset=x",
        ]
    ),
)
extra_headers = st.dictionaries(
    st.sampled_from(
        [
            "x-forwarded-for",
            "user-agent",
            "accept",
            "content-encoding",
            "cookie",
            "x-real-ip",
            "forwarded",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=100),
    max_size=3,
)


@fuzz("token_endpoint")
@given(method, path, query, authorization, body, content_type, extra_headers)
def test_app_never_fails(
    app_client: tuple[Any, httpx.AsyncClient],
    method: str,
    path: str,
    query: str,
    authorization: str | None,
    body: bytes,
    content_type: str | None,
    extra_headers: dict[str, str],
) -> None:
    count()
    loop, client = app_client
    given_headers = dict(extra_headers)
    if authorization is not None:
        given_headers["authorization"] = authorization
    if content_type is not None:
        given_headers["content-type"] = content_type
    # header bytes as a server hands them on: any byte but CR, LF and NUL (the parser refuses)
    headers = {
        name: value.encode("utf-8", "surrogatepass").translate(None, b"\r\n\x00")
        for name, value in given_headers.items()
    }
    try:
        url = httpx.URL(path, query=query.encode("ascii"))
    except httpx.InvalidURL:  # the client refuses to send it; nothing reached the app
        assume(False)
    started = time.perf_counter()
    response = loop.run_until_complete(
        asyncio.wait_for(
            client.request(method, url, headers=headers, content=body or None),
            timeout=ANSWER_BOUND,
        )
    )
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    assert time.perf_counter() - started < ANSWER_BOUND
