"""Browser single sign-on against a real OpenID provider (npm oidc-provider v8 on Node 20).

The "browser" is httpx: regauth's login app runs in process (``http://regauth.test``), the
provider as a real Node process on 127.0.0.1; :func:`drive_login` follows the provider's
redirects and posts its login and consent forms. The GitHub, GitLab and Google presets are
tested against a local fake (:mod:`tests.oidc.fakes`), not the real services.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import pytest
import yaml
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from regauth.events import configure_logging
from regauth.oidc.errors import TokenRejected
from regauth.oidc.login_state import LoginStateCodec, derive_key
from regauth.oidc.openid import OpenIdProvider
from regauth.oidc.presets import resolve_provider
from regauth.runtime import Runtime
from regauth.web.login import COOKIE_NAME, create_login_app
from tests.conftest import RuntimeFactory
from tests.oidc.fakes import FakeProviders, FakeUser
from tests.oidc.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGIN_BASE,
    Account,
    OidcProvider,
    callback_uris,
    drive_login,
    free_port,
    provider_entry,
)
from tests.regauth_process import RegauthServer, run_regauth

TOKEN = re.compile(r"regauth_pat_[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = OidcProvider(
        tmp_path_factory.mktemp("oidc-login"),
        redirect_uris=callback_uris("corp", "strict", "github", "gitlab", "google"),
        accounts={
            "alice": Account(groups=["devs", "ops"], email="alice@corp.test"),
            "bob": Account(groups=[]),
            "eve": Account(groups=["outsiders"]),
            "weird": Account(preferred_username="not a valid name!"),
            "local": Account(groups=["devs"]),
        },
    )
    with provider:
        yield provider


def config(idp: OidcProvider, **extra: Any) -> dict[str, Any]:
    return {
        "server": {"public_url": LOGIN_BASE},
        "oidc": {
            "providers": [
                provider_entry(idp, "corp"),
                provider_entry(idp, "strict", allowed_groups=["ops"]),
            ]
        },
        **extra,
    }


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory, idp: OidcProvider) -> AsyncIterator[Runtime]:
    runtime = make_runtime(config(idp))
    yield runtime
    await runtime.stop()


@dataclass
class Browser:
    """regauth in process, the provider over the network, one cookie jar for regauth."""

    client: httpx.AsyncClient
    idp: OidcProvider

    async def start(self, name: str = "corp", **params: str) -> httpx.Response:
        return await self.client.get(f"/login/{name}", params=params)

    def at_provider(self, start: httpx.Response, username: str) -> str:
        """Log in at the provider; return the callback URL it redirects back to."""
        assert start.status_code == 302, start.text
        with httpx.Client(timeout=10) as browser:
            return drive_login(browser, start.headers["location"], username, LOGIN_BASE + "/")

    async def callback(self, url: str) -> httpx.Response:
        return await self.client.get(url)

    async def login(self, username: str, name: str = "corp", **params: str) -> httpx.Response:
        start = await self.start(name, **params)
        return await self.callback(self.at_provider(start, username))

    def cookie(self) -> str | None:
        return self.client.cookies.get(COOKIE_NAME)

    def set_cookie(self, value: str) -> None:
        self.client.cookies.set(COOKIE_NAME, value, domain="regauth.test", path="/login")


@pytest.fixture
def browser(
    runtime: Runtime, client_for: Callable[..., httpx.AsyncClient], idp: OidcProvider
) -> Browser:
    return Browser(client_for(runtime), idp)


def page_token(response: httpx.Response) -> str:
    found = TOKEN.search(response.text)
    assert found, response.text
    return found.group(0)


def users(runtime: Runtime) -> list[str]:
    return [u.username for u in runtime.accounts.list_users()]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


# ---------------------------------------------------------------------- the happy path


async def test_login_gives_a_working_registry_password(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    assert start.status_code == 302
    location = urlsplit(start.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == browser.idp.issuer
    assert query["redirect_uri"] == [f"{LOGIN_BASE}/login/corp/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["openid profile email groups"]
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    cookie = start.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/login", "Max-Age=600"):
        assert attribute in cookie
    assert "Secure" not in cookie  # http://regauth.test; set when public_url is https

    done = await browser.callback(browser.at_provider(start, "alice"))
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    assert done.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in done.headers["content-security-policy"]
    assert "Max-Age=0" in done.headers["set-cookie"]  # the login cookie is spent
    token = page_token(done)
    assert "docker login -u alice --password-stdin &lt;registry&gt;" in done.text
    assert "podman login -u alice --password-stdin &lt;registry&gt;" in done.text

    user = runtime.accounts.get_user("alice")
    assert user.source == "oidc:corp"
    assert user.email == "alice@corp.test"
    assert sorted(user.groups) == ["devs", "ops"]
    assert {g.name: g.source for g in runtime.accounts.list_groups()} == {
        "devs": "oidc:corp",
        "ops": "oidc:corp",
    }
    (made,) = runtime.accounts.list_tokens("alice")
    assert made.expires_at is not None
    lifetime = made.expires_at - made.created_at
    assert 29 < lifetime.total_seconds() / 86400 <= 30

    # the page's token is alice's docker password (her namespace is hers)
    answer = await browser.client.get(
        "/auth",
        params={"service": "registry", "scope": "repository:alice/app:push,pull"},
        auth=("alice", token),
    )
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert sorted(claims["access"][0]["actions"]) == ["pull", "push"]


async def test_registry_host_from_the_login_link(runtime: Runtime, browser: Browser) -> None:
    listing = await browser.client.get("/login", params={"registry": "registry.corp.test:5000"})
    assert listing.status_code == 200
    assert 'href="/login/corp?registry=registry.corp.test:5000"' in listing.text
    assert "Log in with strict" in listing.text
    done = await browser.login("alice", registry="registry.corp.test:5000")
    assert done.status_code == 200
    assert "docker login -u alice --password-stdin registry.corp.test:5000" in done.text
    # anything that is not a host[:port] is ignored, never echoed
    listing = await browser.client.get("/login", params={"registry": "<script>x</script>"})
    assert "<script>x" not in listing.text and "&lt;script&gt;" not in listing.text


async def test_second_login_updates_groups(
    runtime: Runtime, browser: Browser, idp: OidcProvider
) -> None:
    assert (await browser.login("alice")).status_code == 200
    runtime.accounts.create_group("manual")  # a group regauth manages is left alone
    runtime.accounts.add_member("manual", "alice")
    idp.accounts["alice"].groups = ["devs"]
    idp.restart()  # the provider now says alice is only in devs
    try:
        assert (await browser.login("alice")).status_code == 200
        assert sorted(runtime.accounts.get_user("alice").groups) == ["devs", "manual"]
        assert len(runtime.accounts.list_tokens("alice")) == 2
    finally:
        idp.accounts["alice"].groups = ["devs", "ops"]
        idp.restart()


async def test_any_instance_can_finish_the_login(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient], idp: OidcProvider
) -> None:
    """Two runtimes on one data folder share the signing key, hence the cookie key."""
    first, second = make_runtime(config(idp)), make_runtime(config(idp))
    try:
        a, b = Browser(client_for(first), idp), Browser(client_for(second), idp)
        start = await a.start()
        callback = a.at_provider(start, "alice")
        b.set_cookie(a.cookie() or "")
        done = await b.callback(callback)
        assert done.status_code == 200, done.text
        assert second.accounts.get_user("alice").source == "oidc:corp"
    finally:
        await first.stop()
        await second.stop()


# ---------------------------------------------------------------------- refusals


async def assert_refused(
    runtime: Runtime, response: httpx.Response, status: int, words: str
) -> None:
    assert response.status_code == status, response.text
    assert words in response.text, response.text
    assert response.headers["cache-control"] == "no-store"
    assert TOKEN.search(response.text) is None
    assert users(runtime) == []
    assert runtime.accounts.list_groups() == []


async def test_tampered_state(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    response = await browser.callback(with_query(callback, state="x" * 43))
    await assert_refused(runtime, response, 400, "does not belong to this login session")


async def test_missing_cookie(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    browser.client.cookies.clear()
    await assert_refused(runtime, await browser.callback(callback), 400, "session is missing")


async def test_altered_cookie(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    payload, mac = (browser.cookie() or "").split(".")
    browser.set_cookie(payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac)
    await assert_refused(runtime, await browser.callback(callback), 400, "altered")


async def test_replayed_callback_and_code(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    cookie = browser.cookie() or ""
    assert (await browser.callback(callback)).status_code == 200
    # the same URL again: the cookie was spent
    again = await browser.callback(callback)
    assert again.status_code == 400
    assert "session is missing" in again.text
    # with a copy of the cookie: the provider refuses the used code
    browser.set_cookie(cookie)
    replay = await browser.callback(callback)
    assert replay.status_code == 400, replay.text
    assert "already used or has expired" in replay.text
    assert len(runtime.accounts.list_tokens("alice")) == 1


async def test_wrong_nonce(runtime: Runtime, browser: Browser) -> None:
    """A cookie with a valid MAC but another nonce: the ID token's nonce does not match."""
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    codec = LoginStateCodec(derive_key(runtime.login_secret))
    state = codec.decode(browser.cookie(), "corp")
    browser.set_cookie(codec.encode(replace(state, nonce="n" * 43)))
    await assert_refused(runtime, await browser.callback(callback), 401, "nonce")


async def test_expired_id_token(runtime: Runtime, idp: OidcProvider) -> None:
    """The validator's clock runs two hours ahead at the callback: the ID token (one hour)
    has expired. The cookie is re-signed for that time so only the ID token is at fault."""
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    app = create_login_app(runtime, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=LOGIN_BASE) as client:
        browser = Browser(client, idp)
        callback = browser.at_provider(await browser.start(), "alice")
        codec = LoginStateCodec(derive_key(runtime.login_secret), clock=clock)
        state = codec.decode(browser.cookie(), "corp")
        offset[0] = 7200.0
        browser.set_cookie(codec.encode(replace(state, issued_at=int(clock()))))
        response = await browser.callback(callback)
    await assert_refused(runtime, response, 401, "has expired")


async def test_badly_signed_or_foreign_id_tokens(runtime: Runtime, idp: OidcProvider) -> None:
    """ID tokens the real provider cannot be made to sign: a stranger's key under the
    provider's key ID, an unknown key ID (the key set is fetched again, once), another
    issuer, another audience, and no signature at all."""
    offset = [0.0]
    provider = OpenIdProvider(
        resolve_provider(runtime.config.oidc.providers[0]), clock=lambda: time.time() + offset[0]
    )
    kid = idp.jwks["keys"][0]["kid"]
    stranger = RSAKey.generate_key(2048)
    now = int(time.time())
    good = {"iss": idp.issuer, "aud": CLIENT_ID, "sub": "alice", "exp": now + 60, "iat": now}

    def forge(header: dict[str, Any], **claims: Any) -> str:
        return jose_jwt.encode({"alg": "RS256", **header}, {**good, **claims}, stranger)

    unsigned = ".".join(
        [
            base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode(),
            base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=").decode(),
            "",
        ]
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(TokenRejected, match="signature does not verify"):
            await provider.verify_id_token(http, forge({"kid": kid}, nonce="n"), nonce="n")
        assert provider.key_cache is not None
        assert provider.key_cache.fetches == 1
        offset[0] = 31.0  # past the 30 s rate limit: an unknown kid fetches the keys, once
        for _ in range(3):
            with pytest.raises(TokenRejected, match="does not publish") as refused:
                await provider.verify_id_token(http, forge({"kid": "unknown"}), nonce=None)
            assert not refused.value.definite
        assert provider.key_cache.fetches == 2
        with pytest.raises(TokenRejected):
            await provider.verify_id_token(http, unsigned, nonce=None)
    assert users(runtime) == []


async def test_user_not_in_an_allowed_group(runtime: Runtime, browser: Browser) -> None:
    response = await browser.login("bob", name="strict")
    await assert_refused(runtime, response, 403, "none of the allowed groups")
    response = await browser.login("eve", name="strict")
    await assert_refused(runtime, response, 403, "none of the allowed groups")
    assert (await browser.login("alice", name="strict")).status_code == 200


async def test_invalid_user_name_claim(runtime: Runtime, browser: Browser) -> None:
    response = await browser.login("weird")
    await assert_refused(runtime, response, 403, "is not a valid regauth user name")
    assert "not a valid name!" in response.text


async def test_local_user_of_the_same_name(runtime: Runtime, browser: Browser) -> None:
    runtime.accounts.create_user("local", password="local-password")
    response = await browser.login("local")
    assert response.status_code == 409, response.text
    assert "already exists and signs in another way" in response.text
    assert runtime.accounts.get_user("local").source != "oidc:corp"
    assert runtime.accounts.list_tokens("local") == []
    assert runtime.accounts.list_groups() == []


async def test_same_name_from_another_provider(runtime: Runtime, browser: Browser) -> None:
    """Two providers may know two people by one name: the second is not let into the first's
    account (409), and nothing of the first is changed."""
    assert (await browser.login("alice", name="corp")).status_code == 200
    response = await browser.login("alice", name="strict")
    assert response.status_code == 409, response.text
    assert "signs in another way" in response.text
    assert runtime.accounts.get_user("alice").source == "oidc:corp"
    assert len(runtime.accounts.list_tokens("alice")) == 1


async def test_disabled_user(runtime: Runtime, browser: Browser) -> None:
    assert (await browser.login("alice")).status_code == 200
    runtime.accounts.set_enabled("alice", False)
    response = await browser.login("alice")
    assert response.status_code == 403
    assert "disabled" in response.text
    assert len(runtime.accounts.list_tokens("alice")) == 1


async def test_provider_error_is_escaped(runtime: Runtime, browser: Browser) -> None:
    start = await browser.start()
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await browser.callback(
        f"/login/corp/callback?state={state}&error=access_denied"
        "&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    )
    await assert_refused(runtime, response, 403, "access_denied")
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_unknown_provider_and_paths(browser: Browser) -> None:
    assert (await browser.client.get("/login/nope")).status_code == 404
    assert (await browser.client.get("/login/corp/other")).status_code == 404
    assert (await browser.client.post("/login/corp")).status_code == 405


async def test_provider_down_or_wrong_discovery_url(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient], idp: OidcProvider
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    runtime = make_runtime(
        {
            "server": {"public_url": LOGIN_BASE},
            "oidc": {
                "providers": [
                    {**provider_entry(idp, "down"), "issuer": closed},
                    {**provider_entry(idp, "wrong"), "issuer": idp.issuer + "/nope"},
                ]
            },
        }
    )
    client = client_for(runtime)
    down = await client.get("/login/down")
    assert down.status_code == 502
    assert "cannot reach the discovery document" in down.text
    wrong = await client.get("/login/wrong")
    assert wrong.status_code == 502
    assert "no discovery document at" in wrong.text
    assert "check the issuer URL" in wrong.text
    await runtime.stop()


async def test_provider_down_at_the_callback(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient], tmp_path: Path
) -> None:
    with OidcProvider(tmp_path / "idp", redirect_uris=callback_uris("corp")) as own:
        runtime = make_runtime(config(own))
        browser = Browser(client_for(runtime), own)
        callback = browser.at_provider(await browser.start(), "alice")
        own.stop()
        response = await browser.callback(callback)
    await assert_refused(runtime, response, 502, "cannot reach the token endpoint")
    await runtime.stop()


async def test_cookie_expires_after_ten_minutes(runtime: Runtime, idp: OidcProvider) -> None:
    offset = [0.0]
    app = create_login_app(runtime, clock=lambda: time.time() + offset[0])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=LOGIN_BASE
    ) as client:
        browser = Browser(client, idp)
        callback = browser.at_provider(await browser.start(), "alice")
        offset[0] = 601.0
        response = await browser.callback(callback)
    await assert_refused(runtime, response, 400, "expired")


async def test_nothing_secret_in_the_log(runtime: Runtime, browser: Browser) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    start = await browser.start()
    callback = browser.at_provider(start, "alice")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    done = await browser.callback(callback)
    token = page_token(done)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = [line["event"] for line in lines]
    assert "login started" in events and "login succeeded" in events
    text = stream.getvalue()
    for secret in (token, code, CLIENT_SECRET, browser.cookie() or "unused-cookie-marker"):
        assert secret not in text


# ---------------------------------------------------------------------- presets (fake)


@pytest.fixture
def fake() -> FakeProviders:
    fake = FakeProviders(CLIENT_ID, CLIENT_SECRET)
    fake.add(
        FakeUser(
            "octocat",
            1,
            email="octo@cat.test",
            teams=[("acme", "devs"), ("acme", "ops"), ("other", "x")],
            orgs={"acme": "active"},
            groups=["acme", "acme/devs"],
        )
    )
    fake.add(FakeUser("pending", 2, orgs={"acme": "pending"}, teams=[("acme", "devs")]))
    fake.add(FakeUser("googler", 3, email="googler@gmail.test"))
    fake.add(FakeUser("unverified", 4, email="unverified@gmail.test", email_verified=False))
    fake.add(FakeUser("insider", 5, email="insider@example.test"))
    fake.add(FakeUser("pretender", 6, email="pretender@example.test", email_verified=False))
    return fake


async def fake_login(
    runtime: Runtime, fake: FakeProviders, name: str, login: str
) -> httpx.Response:
    app = create_login_app(runtime, http_factory=fake.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=LOGIN_BASE
    ) as client:
        start = await client.get(f"/login/{name}")
        assert start.status_code == 302, start.text
        fake.next_login = login
        async with fake.client() as browser:
            back = await browser.get(start.headers["location"])
        assert back.status_code == 302, back.text
        return await client.get(back.headers["location"])


def preset(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }


async def test_github_preset(make_runtime: RuntimeFactory, fake: FakeProviders) -> None:
    runtime = make_runtime(
        {
            "server": {"public_url": LOGIN_BASE},
            "oidc": {
                "providers": [
                    preset("github", "github", github_organization="acme", github_teams=["ops"])
                ]
            },
        }
    )
    start = await fake_login(runtime, fake, "github", "octocat")
    assert start.status_code == 200, start.text
    assert "docker login -u octocat" in start.text
    user = runtime.accounts.get_user("octocat")
    assert user.source == "oidc:github"
    assert sorted(user.groups) == ["acme/devs", "acme/ops", "other/x"]
    assert ("github.com", "GET", "/login/oauth/authorize") in fake.requests
    assert ("api.github.com", "GET", "/user/memberships/orgs/acme") in fake.requests
    # a pending invitation is not a membership
    refused = await fake_login(runtime, fake, "github", "pending")
    assert refused.status_code == 403
    assert "not an active member" in refused.text
    assert "pending" not in users(runtime)
    await runtime.stop()


async def test_github_team_required(make_runtime: RuntimeFactory, fake: FakeProviders) -> None:
    runtime = make_runtime(
        {
            "server": {"public_url": LOGIN_BASE},
            "oidc": {
                "providers": [
                    preset(
                        "github",
                        "github",
                        issuer="https://github.fake",  # GitHub Enterprise Server
                        github_organization="acme",
                        github_teams=["admins"],
                    )
                ]
            },
        }
    )
    refused = await fake_login(runtime, fake, "github", "octocat")
    assert refused.status_code == 403
    assert "none of the teams admins" in refused.text
    assert ("github.fake", "GET", "/api/v3/user") in fake.requests
    assert users(runtime) == []
    await runtime.stop()


async def test_gitlab_preset(make_runtime: RuntimeFactory, fake: FakeProviders) -> None:
    runtime = make_runtime(
        {
            "server": {"public_url": LOGIN_BASE},
            "oidc": {"providers": [preset("gitlab", "gitlab", allowed_groups=["acme/devs"])]},
        }
    )
    done = await fake_login(runtime, fake, "gitlab", "octocat")
    assert done.status_code == 200, done.text
    # groups came from UserInfo (not in the ID token); the token went by client_secret_post
    assert sorted(runtime.accounts.get_user("octocat").groups) == ["acme", "acme/devs"]
    assert ("gitlab.com", "GET", "/userinfo") in fake.requests
    refused = await fake_login(runtime, fake, "gitlab", "googler")
    assert refused.status_code == 403
    await runtime.stop()


async def test_google_preset(make_runtime: RuntimeFactory, fake: FakeProviders) -> None:
    runtime = make_runtime(
        {"server": {"public_url": LOGIN_BASE}, "oidc": {"providers": [preset("google", "google")]}}
    )
    done = await fake_login(runtime, fake, "google", "googler")
    assert done.status_code == 200, done.text
    assert "docker login -u googler@gmail.test" in done.text
    assert runtime.accounts.get_user("googler@gmail.test").groups == []
    refused = await fake_login(runtime, fake, "google", "unverified")
    assert refused.status_code == 403
    assert "not verified" in refused.text
    assert ("accounts.google.com", "GET", "/.well-known/openid-configuration") in fake.requests
    await runtime.stop()


async def test_email_domain_restriction(make_runtime: RuntimeFactory, fake: FakeProviders) -> None:
    runtime = make_runtime(
        {
            "server": {"public_url": LOGIN_BASE},
            "oidc": {
                "providers": [preset("google", "google", allowed_email_domains=["example.test"])]
            },
        }
    )
    refused = await fake_login(runtime, fake, "google", "googler")  # googler@gmail.test
    assert refused.status_code == 403
    assert "example.test" in refused.text
    unverified = await fake_login(runtime, fake, "google", "pretender")
    assert unverified.status_code == 403
    assert runtime.accounts.count_users() == 0
    allowed = await fake_login(runtime, fake, "google", "insider")
    assert allowed.status_code == 200, allowed.text
    assert runtime.accounts.get_user("insider@example.test").source == "oidc:google"
    await runtime.stop()


def test_preset_configuration_errors(tmp_path: Path) -> None:
    from regauth.config import ConfigError, parse_config

    def raw(**fields: Any) -> dict[str, Any]:
        return {
            "oidc": {"providers": [{"name": "p", "client_id": "c", "client_secret": "s", **fields}]}
        }

    def entry(**fields: Any) -> Any:
        return parse_config(raw(**fields), environ={}).oidc.providers[0]

    # what needs no network is a configuration error, naming the provider entry and the key
    cases = {
        "client_secret: must not be empty": raw(type="gitlab", client_secret=""),
        "github_organization: only for type github": raw(type="gitlab", github_organization="a"),
        "github_teams: needs github_organization": raw(type="github", github_teams=["x"]),
        "accept_access_tokens: Google": raw(type="google", accept_access_tokens=True),
        "allowed_groups: needs groups_claim": raw(type="google", allowed_groups=["x"]),
        "scopes: must include openid": raw(type="gitlab", scopes=["profile"]),
        "allowed_email_domains: 'not a domain'": raw(
            type="google", allowed_email_domains=["not a domain"]
        ),
    }
    for message, document in cases.items():
        with pytest.raises(ConfigError) as caught:
            parse_config(document, environ={})
        assert any(
            p.startswith("oidc.providers[0]") and message in p for p in caught.value.problems
        ), caught.value.problems
    google = resolve_provider(entry(type="google"))
    assert (google.issuer, google.username_claim, google.groups_claim) == (
        "https://accounts.google.com",
        "email",
        None,
    )
    github = resolve_provider(entry(type="github"))
    assert (github.issuer, github.github_api, github.username_claim) == (
        "https://github.com",
        "https://api.github.com",
        "login",
    )
    ghe = resolve_provider(entry(type="github", issuer="https://ghe.corp.test/"))
    assert ghe.github_api == "https://ghe.corp.test/api/v3"
    assert tmp_path.exists()


# ------------------------------------------------------- discovery checked at start-up


def _provider_config(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "regauth.yaml"
    path.write_text(
        yaml.safe_dump({"server": {"public_url": LOGIN_BASE}, "oidc": {"providers": list(entries)}})
    )
    return path


def test_check_config_fetches_each_discovery_document(idp: OidcProvider, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    config = _provider_config(
        tmp_path,
        provider_entry(idp, "corp"),
        {**provider_entry(idp, "down"), "issuer": closed, "timeout": 2},
        {**provider_entry(idp, "hub"), "type": "github"},  # no discovery: not fetched
    )
    data = ["--data-dir", str(tmp_path / "data")]
    checked = run_regauth("check-config", "--config", str(config), *data, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "oidc.providers[corp].issuer: discovery document OK" in checked.stdout
    assert "warning: oidc.providers[down].issuer: cannot reach the discovery document" in (
        checked.stdout
    )
    assert "hub" not in checked.stdout

    wrong = _provider_config(tmp_path, {**provider_entry(idp, "corp"), "issuer": idp.issuer + "/x"})
    refused = run_regauth("check-config", "--config", str(wrong), *data, cwd=tmp_path)
    assert refused.returncode == 2
    assert "oidc.providers[corp].issuer: no discovery document at" in refused.stderr
    assert "(HTTP 404)" in refused.stderr and "Traceback" not in refused.stderr


def test_serve_refuses_a_wrong_issuer_and_starts_despite_a_provider_that_is_down(
    idp: OidcProvider, tmp_path: Path
) -> None:
    # an issuer URL with a path the provider does not have: a configuration mistake
    other = _provider_config(
        tmp_path, {**provider_entry(idp, "corp"), "issuer": idp.issuer + "/other"}
    )
    refused = run_regauth(
        "serve", "--config", str(other), "--data-dir", str(tmp_path / "d1"), cwd=tmp_path
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0, refused.stderr  # one line
    assert "oidc.providers[corp].issuer:" in refused.stderr

    closed = f"http://127.0.0.1:{free_port()}"
    down = _provider_config(
        tmp_path, {**provider_entry(idp, "down"), "issuer": closed, "timeout": 2}
    )
    with (
        RegauthServer(tmp_path, config=down, data_dir=tmp_path / "d2") as server,
        server.client() as client,
    ):
        assert client.get("/healthz").status_code == 200
        # the provider is down: its login fails clearly, nothing else is affected
        assert client.get("/login/down").status_code == 502
    warnings = [
        json.loads(line)
        for line in server.output().splitlines()
        if "identity provider unreachable" in line
    ]
    assert len(warnings) == 1
    assert warnings[0]["provider"] == "down" and warnings[0]["level"] == "warning"


async def test_single_sign_on_into_the_web_console(runtime: Runtime, browser: Browser) -> None:
    """The console's sign-in page offers each provider; signing in there gives a console
    session (no personal access token) and goes on to the page the person wanted."""
    page = await browser.client.get("/login", params={"next": "/access"})
    assert page.status_code == 200
    assert 'href="/login/corp?console=1&amp;next=/access"' in page.text
    assert "Sign in with corp" in page.text
    answer = await browser.login("alice", console="1", next="/access")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/access"
    assert any("regauth_session=" in c for c in answer.headers.get_list("set-cookie"))
    home = await browser.client.get("/")
    assert home.status_code == 200
    assert "Hello, alice" in home.text
    assert runtime.accounts.list_tokens("alice") == []
    (session,) = runtime.accounts.list_console_sessions("alice")
    assert session.method == "oidc:corp"
    # a next path to another site is dropped
    other = await browser.login("bob", console="1", next="https://evil.test/")
    assert other.headers["location"] == "/"
    # disabling the user ends the single sign-on session too
    runtime.accounts.set_enabled("alice", False)
    browser.client.cookies.clear()
    assert runtime.accounts.list_console_sessions("alice") == []


async def test_a_device_is_approved_by_a_single_sign_on_session(
    runtime: Runtime, browser: Browser
) -> None:
    """The device sign-in approved by someone who signed in to the console with single
    sign-on: the machine's session belongs to that provider's user."""
    asked = await browser.client.post(
        "/device/code", data={"client_id": "docker-credential-regauth", "client_name": "ci-box"}
    )
    code = asked.json()["user_code"]
    signed = await browser.login("alice", console="1", next=f"/device?user_code={code}")
    assert signed.headers["location"] == f"/device?user_code={code}"
    page = await browser.client.get(signed.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    confirm = await browser.client.post("/device", data={"csrf": csrf.group(1), "user_code": code})
    assert "ci-box" in confirm.text
    done = await browser.client.post(
        "/device/approve", data={"csrf": csrf.group(1), "user_code": code}
    )
    assert done.status_code == 200 and "signed in as alice" in done.text
    polled = await browser.client.post(
        "/device/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": asked.json()["device_code"],
        },
    )
    assert polled.status_code == 200, polled.text
    (device,) = runtime.accounts.list_console_sessions("alice", kind="device")
    assert device.method == "oidc:corp" and device.client_name == "ci-box"
