"""An identity provider's access token as the docker password, against a real OpenID provider
(npm oidc-provider v8 on Node 20): JWT access tokens (resource indicators) verified with the
provider's keys, opaque ones introspected; the user name must match; expiry, revocation,
caching, an unreachable or slow provider, key rotation. GitHub tokens against a local fake.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from regauth.authn.base import Outcome
from regauth.authn.idp_token import IdpTokenAuthenticator
from regauth.events import configure_logging
from regauth.protocol.secret import Secret
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory
from tests.oidc.fakes import FakeProviders, FakeUser
from tests.oidc.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    RESOURCE,
    Account,
    OidcProvider,
    free_port,
    provider_entry,
)

ClientFor = Callable[..., httpx.AsyncClient]
INTROSPECTION = "/token/introspection"

ACCOUNTS = {
    "alice": Account(groups=["devs", "ops"]),
    "bob": Account(groups=["devs"]),
    "carol": Account(groups=["devs"], access_token_ttl=2),
    "dave": Account(),
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with OidcProvider(
        tmp_path_factory.mktemp("oidc-tokens"), redirect_uris=[], accounts=ACCOUNTS
    ) as provider:
        yield provider


@pytest.fixture
def own_idp(tmp_path: Any) -> Iterator[OidcProvider]:
    """A provider of this test's own, to stop or restart."""
    provider = OidcProvider(tmp_path / "idp", redirect_uris=[], accounts=ACCOUNTS)
    with provider:
        yield provider


def token_config(idp: OidcProvider, **extra: Any) -> dict[str, Any]:
    entry = provider_entry(idp, accept_access_tokens=True, audience=RESOURCE, **extra)
    return {"oidc": {"providers": [entry]}}


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory, idp: OidcProvider) -> AsyncIterator[Runtime]:
    runtime = make_runtime(token_config(idp))
    yield runtime
    await runtime.stop()


def authenticator(runtime: Runtime) -> IdpTokenAuthenticator:
    (found,) = [a for a in runtime.authenticators.authenticators if a.name == "idp_token"]
    assert isinstance(found, IdpTokenAuthenticator)
    return found


SCOPE = {"service": "registry", "scope": "repository:team/app:pull,push"}


async def ask(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.get("/auth", params=SCOPE, auth=(username, password))


def access(response: httpx.Response) -> list[str]:
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return sorted(claims["access"][0]["actions"])


# ---------------------------------------------------------------------- accepted


async def test_jwt_access_token_as_password(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    tokens = idp.tokens("alice", resource=RESOURCE)
    token = tokens["access_token"]
    assert token.count(".") == 2  # a JWT for the registry audience
    client = client_for(runtime)
    first = await ask(client, "alice", token)
    assert first.status_code == 200, first.text
    assert access(first) == []  # no grant yet: authenticated, nothing permitted
    user = runtime.accounts.get_user("alice")
    assert (user.source, sorted(user.groups)) == ("oidc:corp", ["devs", "ops"])

    runtime.accounts.add_grant(group="devs", pattern="team/*", role="push")
    await runtime.watcher.poll_once()
    granted = await ask(client, "alice", token)
    assert access(granted) == ["pull", "push"]


async def test_opaque_access_token_as_password(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    token = idp.tokens("bob")["access_token"]
    assert token.count(".") == 0  # opaque: introspected, the user from UserInfo
    idp.reset_counts()
    client = client_for(runtime)
    answer = await ask(client, "bob", token)
    assert answer.status_code == 200, answer.text
    assert runtime.accounts.get_user("bob").groups == ["devs"]
    counts = idp.counts()
    assert counts.get(INTROSPECTION) == 1
    assert counts.get("/me") == 1


async def test_jwt_for_our_audience_from_another_client(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    """RFC 9068: the audience decides; any client of the provider may get a registry token."""
    token = idp.tokens(
        "dave", resource=RESOURCE, client_id=OTHER_CLIENT_ID, client_secret=OTHER_CLIENT_SECRET
    )["access_token"]
    assert (await ask(client_for(runtime), "dave", token)).status_code == 200


# ---------------------------------------------------------------------- refused


async def test_refusals(runtime: Runtime, idp: OidcProvider, client_for: ClientFor) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    client = client_for(runtime)
    alice = idp.tokens("alice", resource=RESOURCE)
    other_opaque = idp.tokens("dave", client_id=OTHER_CLIENT_ID, client_secret=OTHER_CLIENT_SECRET)[
        "access_token"
    ]
    cases = [
        (
            "bob",
            alice["access_token"],
            "corp: the token belongs to 'alice', not to the user name given",
        ),
        ("alice", alice["id_token"], "an ID token is not an access token"),
        ("regauth", idp.client_credentials(RESOURCE), "issued to a client, not to a user"),
        ("dave", other_opaque, "the token was issued to another client"),
        ("dave", "A" * 43, "no identity provider knows this token"),
    ]
    for username, token, reason in cases:
        answer = await ask(client, username, token)
        assert answer.status_code == 401, (reason, answer.text)
        assert answer.headers["www-authenticate"].startswith("Basic")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    reasons = [e.get("reason", "") for e in events if e.get("event") == "token"]
    for (_, _, reason), logged in zip(cases, reasons, strict=True):
        assert reason in logged, (reason, logged)
    text = stream.getvalue()
    for _, token, _ in cases:
        assert token not in text
    assert CLIENT_SECRET not in text
    assert runtime.accounts.list_users() == []  # not even alice, whose token was misused


async def test_passwords_that_are_not_tokens_pass_through(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    idp.reset_counts()
    client = client_for(runtime)
    foreign_jwt = jwt.encode({"iss": "https://elsewhere.test", "sub": "x"}, "k" * 32)
    for password in ("hunter2", "correct horse battery staple", foreign_jwt):
        answer = await ask(client, "nobody", password)
        assert answer.status_code == 401
    assert INTROSPECTION not in idp.counts()
    result = await authenticator(runtime).authenticate("nobody", Secret("hunter2"))
    assert result.outcome is Outcome.UNKNOWN


async def test_expired_tokens(runtime: Runtime, idp: OidcProvider, client_for: ClientFor) -> None:
    """carol's tokens live two seconds: cached while valid, refused once ``exp`` passes (the
    cache never outlives it)."""
    jwt_token = idp.tokens("carol", resource=RESOURCE)["access_token"]
    opaque = idp.tokens("carol")["access_token"]
    exp = jwt.decode(jwt_token, options={"verify_signature": False})["exp"]
    client = client_for(runtime)
    idp.reset_counts()
    for token in (jwt_token, opaque, jwt_token, opaque):
        assert (await ask(client, "carol", token)).status_code == 200
    assert idp.counts()[INTROSPECTION] == 1
    await asyncio.sleep(max(0.0, exp - time.time()) + 1.1)
    for token in (jwt_token, opaque):
        refused = await ask(client, "carol", token)
        assert refused.status_code == 401
    assert idp.counts()[INTROSPECTION] == 2  # asked again after exp: inactive


async def test_revocation_takes_effect_within_the_revocable_ttl(
    runtime: Runtime, idp: OidcProvider
) -> None:
    """An opaque token revoked at the provider is refused once its cache entry (at most
    ``revocable_ttl`` = 60 s, never past ``exp``) runs out; the clock is moved, not waited."""
    offset = [0.0]
    checker = IdpTokenAuthenticator.from_config(
        runtime.config.oidc.providers,
        accounts=runtime.accounts,
        clock=lambda: time.time() + offset[0],
    )
    try:
        token = idp.tokens("alice")["access_token"]
        assert (await checker.authenticate("alice", Secret(token))).outcome is Outcome.AUTHENTICATED
        idp.revoke(token)
        assert idp.introspect(token) == {"active": False}
        # within the minute, the cached answer stands
        offset[0] = 59.0
        assert (await checker.authenticate("alice", Secret(token))).outcome is Outcome.AUTHENTICATED
        offset[0] = 61.0
        refused = await checker.authenticate("alice", Secret(token))
        assert refused.outcome is Outcome.DENIED
        assert "not active" in refused.reason or "knows this token" in refused.reason
    finally:
        await checker.close()


async def test_disabled_user_is_refused(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    token = idp.tokens("alice", resource=RESOURCE)["access_token"]
    client = client_for(runtime)
    assert (await ask(client, "alice", token)).status_code == 200
    runtime.accounts.set_enabled("alice", False)
    assert (await ask(client, "alice", token)).status_code == 401
    runtime.accounts.set_enabled("alice", True)
    runtime.accounts.delete_user("alice")
    # deleted: the next use creates the user again, as a new login would
    assert (await ask(client, "alice", token)).status_code == 200
    assert runtime.accounts.get_user("alice").groups == ["devs", "ops"]


# ---------------------------------------------------------------------- caching


async def test_caching_counts_provider_calls(
    runtime: Runtime, idp: OidcProvider, client_for: ClientFor
) -> None:
    opaque = idp.tokens("bob")["access_token"]
    jwt_token = idp.tokens("bob", resource=RESOURCE)["access_token"]
    client = client_for(runtime)
    idp.reset_counts()
    for _ in range(5):
        assert (await ask(client, "bob", opaque)).status_code == 200
        assert (await ask(client, "bob", jwt_token)).status_code == 200
    counts = idp.counts()
    assert counts[INTROSPECTION] == 1
    assert counts.get("/jwks", 0) <= 1  # fetched once per process, maybe by an earlier test
    # a wrong user name with a cached token: refused without asking the provider
    assert (await ask(client, "alice", opaque)).status_code == 401
    assert idp.counts()[INTROSPECTION] == 1

    # concurrent first uses of one token share one introspection
    fresh = idp.tokens("bob")["access_token"]
    idp.reset_counts()
    answers = await asyncio.gather(*(ask(client, "bob", fresh) for _ in range(8)))
    assert {a.status_code for a in answers} == {200}
    assert idp.counts()[INTROSPECTION] == 1


async def test_cache_is_bounded(runtime: Runtime, idp: OidcProvider) -> None:
    checker = IdpTokenAuthenticator.from_config(
        runtime.config.oidc.providers, accounts=runtime.accounts
    )
    checker._cache.max_entries = 3  # the bound, made small
    try:
        for _ in range(5):
            token = idp.tokens("bob")["access_token"]
            result = await checker.authenticate("bob", Secret(token))
            assert result.outcome is Outcome.AUTHENTICATED
        assert checker.cached_tokens == 3
    finally:
        await checker.close()


# ---------------------------------------------------------------------- the provider fails


async def test_provider_down_gives_503_quickly(
    make_runtime: RuntimeFactory, own_idp: OidcProvider, client_for: ClientFor
) -> None:
    runtime = make_runtime(token_config(own_idp))
    client = client_for(runtime)
    seen_jwt = own_idp.tokens("alice", resource=RESOURCE)["access_token"]
    assert (await ask(client, "alice", seen_jwt)).status_code == 200  # keys now known
    opaque = own_idp.tokens("alice")["access_token"]
    new_jwt = own_idp.tokens("alice", resource=RESOURCE)["access_token"]
    own_idp.stop()
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    started = time.monotonic()
    down = await ask(client, "alice", opaque)
    elapsed = time.monotonic() - started
    assert down.status_code == 503, down.text
    assert down.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert elapsed < 2.0
    assert "cannot reach the introspection endpoint" in stream.getvalue()
    assert opaque not in stream.getvalue()
    # a JWT is verified offline with the keys already held: the outage does not matter
    assert (await ask(client, "alice", new_jwt)).status_code == 200
    await runtime.stop()


class BlackHole:
    """A TCP port that accepts connections and never answers (a hung provider)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(connection)

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        for connection in self.held:
            connection.close()
        self.sock.close()


async def test_slow_provider_times_out(
    make_runtime: RuntimeFactory, idp: OidcProvider, client_for: ClientFor
) -> None:
    hole = BlackHole()
    try:
        entry = {**provider_entry(idp, "hung", accept_access_tokens=True), "issuer": hole.url}
        entry["timeout"] = 0.5
        runtime = make_runtime({"oidc": {"providers": [entry]}})
        client = client_for(runtime)
        started = time.monotonic()
        answer = await ask(client, "alice", "B" * 43)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503
        assert 0.4 < elapsed < 2.0
        await runtime.stop()
    finally:
        hole.close()


async def test_key_rotation_refetches_the_key_set(
    make_runtime: RuntimeFactory, own_idp: OidcProvider
) -> None:
    runtime = make_runtime(token_config(own_idp))
    offset = [0.0]
    checker = IdpTokenAuthenticator.from_config(
        runtime.config.oidc.providers,
        accounts=runtime.accounts,
        clock=lambda: time.time() + offset[0],
    )
    try:
        before = own_idp.tokens("alice", resource=RESOURCE)["access_token"]
        assert (
            await checker.authenticate("alice", Secret(before))
        ).outcome is Outcome.AUTHENTICATED
        own_idp.restart(rotate_keys=True)  # new signing key, new kid
        own_idp.reset_counts()
        after = own_idp.tokens("alice", resource=RESOURCE)["access_token"]
        # within 30 s of the last fetch, an unknown kid does not fetch again (and is not cached)
        refused = await checker.authenticate("alice", Secret(after))
        assert refused.outcome is Outcome.DENIED
        assert "does not publish" in refused.reason
        assert own_idp.counts().get("/jwks", 0) == 0
        offset[0] = 31.0
        accepted = await checker.authenticate("alice", Secret(after))
        assert accepted.outcome is Outcome.AUTHENTICATED, accepted.reason
        assert own_idp.counts()["/jwks"] == 1
    finally:
        await checker.close()
        await runtime.stop()


async def test_wrong_discovery_url_is_a_clear_error(
    make_runtime: RuntimeFactory, idp: OidcProvider, client_for: ClientFor
) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    entry = {**provider_entry(idp, accept_access_tokens=True), "issuer": idp.issuer + "/typo"}
    runtime = make_runtime({"oidc": {"providers": [entry]}})
    answer = await ask(client_for(runtime), "alice", "C" * 43)
    assert answer.status_code == 503
    assert "no discovery document at " + idp.issuer + "/typo" in stream.getvalue()
    assert "check the issuer URL" in stream.getvalue()
    closed = {**entry, "issuer": f"http://127.0.0.1:{free_port()}"}
    runtime2 = make_runtime({"oidc": {"providers": [closed]}})
    assert (await ask(client_for(runtime2), "alice", "C" * 43)).status_code == 503
    assert "cannot reach the discovery document" in stream.getvalue()
    await runtime.stop()
    await runtime2.stop()


# ---------------------------------------------------------------------- GitHub (fake)


async def test_github_tokens_via_the_token_check_api(make_runtime: RuntimeFactory) -> None:
    fake = FakeProviders(CLIENT_ID, CLIENT_SECRET)
    fake.add(FakeUser("octocat", 1, teams=[("acme", "devs")], orgs={"acme": "active"}))
    runtime = make_runtime(
        {
            "oidc": {
                "providers": [
                    {
                        "name": "github",
                        "type": "github",
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "github_organization": "acme",
                        "accept_access_tokens": True,
                    }
                ]
            }
        }
    )
    checker = IdpTokenAuthenticator.from_config(
        runtime.config.oidc.providers, accounts=runtime.accounts
    )
    checker._http = fake.client()  # GitHub is the local fake
    try:
        token = fake.issue_token("octocat")
        result = await checker.authenticate("octocat", Secret(token))
        assert result.outcome is Outcome.AUTHENTICATED, result.reason
        assert result.identity is not None
        assert result.identity.groups == ("acme/devs",)
        assert ("api.github.com", "POST", f"/applications/{CLIENT_ID}/token") in fake.requests
        # a token GitHub does not know for this app
        unknown = await checker.authenticate("octocat", Secret("gho_" + "x" * 36))
        assert unknown.outcome is Outcome.DENIED
    finally:
        await checker.close()
        await runtime.stop()
