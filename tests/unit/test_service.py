"""TokenService decisions: anonymous, wrong and unknown credentials, accounts, services."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from regauth.authn.base import ANONYMOUS, AuthResult, Identity
from regauth.authn.chain import AuthenticatorChain
from regauth.authz.base import AccessContext
from regauth.authz.chain import AuthorizerChain
from regauth.credentials import passwords
from regauth.protocol.errors import (
    BackendUnavailable,
    InvalidGrant,
    InvalidRequest,
    Unauthorized,
    UnsupportedGrantType,
)
from regauth.protocol.request import GrantType, TokenRequest, parse_get, parse_post
from regauth.protocol.scope import parse_scope
from regauth.protocol.secret import Secret
from regauth.service import ClientInfo
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.unit.test_request import basic

CLIENT = ClientInfo(address=None, user_agent="test")
FORM = "application/x-www-form-urlencoded"


def config(**extra: Any) -> dict[str, Any]:
    return {
        "users": {
            "alice": {"password": bcrypt_hash("alice-pw")},
            "puller": {"password": bcrypt_hash("pull-pw")},
        },
        "acl": [
            {"match": {"account": "alice"}, "actions": ["*"], "comment": "alice: all"},
            {"match": {"account": "puller"}, "actions": ["pull"]},
            {"match": {"account": "", "name": "public/*"}, "actions": ["pull"]},
        ],
        **extra,
    }


async def test_authenticated_token(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_get(
        "service=registry&scope=repository:a/b:pull,push&account=alice", basic("alice", "alice-pw")
    )
    issued = await runtime.service.issue(request, CLIENT)
    claims = jwt.decode(
        issued.body["token"],
        runtime.signing_key.private_key.public_key(),
        algorithms=["ES256"],
        audience="registry",
        issuer="regauth",
    )
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}]
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["jti"]) >= 22
    assert issued.decisions[0].decided_by == "acl[0]"


async def test_jwt_ids_are_unique(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_get("", basic("alice", "alice-pw"))
    ids = set()
    for _ in range(20):
        token = (await runtime.service.issue(request, CLIENT)).body["token"]
        ids.add(jwt.decode(token, options={"verify_signature": False})["jti"])
    assert len(ids) == 20


async def test_partial_grant_is_200_with_subset(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_get("scope=repository:x:pull,push,delete", basic("puller", "pull-pw"))
    issued = await runtime.service.issue(request, CLIENT)
    assert issued.decisions[0].granted == ("pull",)
    assert issued.decisions[0].denied == ("push", "delete")


async def test_authenticated_but_nothing_granted_is_still_200(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_get("scope=registry:catalog:*", basic("puller", "pull-pw"))
    issued = await runtime.service.issue(request, CLIENT)
    claims = jwt.decode(issued.body["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": []}]


async def test_anonymous(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    public = await runtime.service.issue(parse_get("scope=repository:public/x:pull", None), CLIENT)
    assert public.identity.anonymous
    assert public.decisions[0].granted == ("pull",)
    with pytest.raises(Unauthorized) as caught:
        await runtime.service.issue(parse_get("scope=repository:private/x:pull", None), CLIENT)
    assert caught.value.challenge
    assert caught.value.message == "authentication required"
    # no scope at all: an empty token, as Docker Hub answers (GET /v2/ needs any valid token)
    empty = await runtime.service.issue(parse_get("service=registry", None), CLIENT)
    assert jwt.decode(empty.body["token"], options={"verify_signature": False})["access"] == []


async def test_wrong_password_and_unknown_user(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    for user, password in (("alice", "wrong"), ("nobody", "x")):
        with pytest.raises(Unauthorized) as caught:
            await runtime.service.issue(parse_get("", basic(user, password)), CLIENT)
        assert caught.value.message == "invalid username or password"
        assert caught.value.docker_body()["errors"][0]["code"] == "UNAUTHORIZED"
        assert "wrong" not in caught.value.message


async def test_oauth2_wrong_password_is_400_invalid_grant(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_post(b"grant_type=password&username=alice&password=bad&service=registry", FORM)
    with pytest.raises(InvalidGrant) as caught:
        await runtime.service.issue(request, CLIENT)
    assert caught.value.status == 400
    assert caught.value.oauth_body()["error"] == "invalid_grant"


async def test_oauth2_password_grant_returns_no_refresh_token(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = parse_post(
        b"grant_type=password&username=alice&password=alice-pw&access_type=offline"
        b"&scope=repository%3Ax%3Apull",
        FORM,
    )
    issued = await runtime.service.issue(request, CLIENT)
    assert "refresh_token" not in issued.body
    assert issued.decisions[0].granted == ("pull",)


async def test_refresh_grant_without_refresh_tokens_is_unsupported(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(config(refresh_tokens={"enabled": False}))
    request = TokenRequest(grant_type=GrantType.REFRESH_TOKEN, refresh_token=Secret("x"))
    with pytest.raises(UnsupportedGrantType) as caught:
        await runtime.service.issue(request, CLIENT)
    assert caught.value.status == 400


async def test_unknown_refresh_token_is_invalid_grant(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    request = TokenRequest(grant_type=GrantType.REFRESH_TOKEN, refresh_token=Secret("x"))
    with pytest.raises(InvalidGrant) as caught:
        await runtime.service.issue(request, CLIENT)
    assert caught.value.status == 400
    assert caught.value.oauth_body()["error"] == "invalid_grant"


async def test_account_must_match_the_user(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config())
    with pytest.raises(InvalidRequest, match="account does not match"):
        await runtime.service.issue(parse_get("account=bob", basic("alice", "alice-pw")), CLIENT)
    with pytest.raises(InvalidRequest, match="account given without credentials"):
        await runtime.service.issue(parse_get("account=bob", None), CLIENT)


async def test_unknown_service_is_400(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(config(token={"service": ["registry", "mirror"]}))
    mirror = await runtime.service.issue(
        parse_get("service=mirror", basic("alice", "alice-pw")), CLIENT
    )
    assert jwt.decode(mirror.body["token"], options={"verify_signature": False})["aud"] == "mirror"
    with pytest.raises(InvalidRequest, match="unknown service 'elsewhere'"):
        await runtime.service.issue(parse_get("service=elsewhere", None), CLIENT)


async def test_unknown_user_costs_a_hash_of_the_same_cost(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime({"users": {"alice": {"password": bcrypt_hash("pw", cost=5)}}})
    verified: list[int | None] = []
    real = passwords.verify_password

    def recording(encoded: str, password: bytes) -> bool:
        verified.append(passwords.bcrypt_cost(encoded))
        return real(encoded, password)

    monkeypatch.setattr(passwords, "verify_password", recording)
    costs = []
    for user in ("alice", "nobody"):
        verified.clear()
        with pytest.raises(Unauthorized):
            await runtime.service.issue(parse_get("", basic(user, "wrong")), CLIENT)
        costs.append(sorted(verified, key=str))
    # every backend checks one hash of its own kind and cost, known name or not: the static
    # user's bcrypt (cost 5) and the database's argon2id (no bcrypt cost)
    assert costs == [[5, None], [5, None]]


class _Broken:
    name = "broken"

    async def refresh(self) -> None:
        return None

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        raise BackendUnavailable("directory unreachable")


class _Knows:
    name = "knows"

    async def refresh(self) -> None:
        return None

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        if username == "carol":
            return AuthResult.success(Identity("carol", self.name), cacheable=False)
        return AuthResult.unknown()


async def test_backend_failure_is_reported_and_others_keep_working() -> None:
    chain = AuthenticatorChain([_Broken(), _Knows()], passwords.make_dummy_hash(4))
    identity = await chain.authenticate("carol", Secret("x"))
    assert identity.subject == "carol"
    with pytest.raises(BackendUnavailable) as caught:
        await chain.authenticate("dave", Secret("x"))
    assert caught.value.status == 503


async def test_default_deny_without_authorizers() -> None:
    decision = await AuthorizerChain([]).decide(
        AccessContext(ANONYMOUS, "registry"), parse_scope("repository:x:pull")
    )
    assert decision.granted == ()
    assert decision.decided_by == "default"
