"""Access tokens from a provider, used as the docker password.

* JWT access tokens (RFC 9068), after the signature: ``iss`` is the provider's, ``aud`` holds
  the configured audience (``audience``, else the client_id), ``exp`` is in the future (no
  leeway: a cached result must not outlive it), ``nbf``/``iat`` not in the future. An ID token
  is refused even though it is a signed JWT with our client_id as audience: ID tokens travel
  through browsers and front ends, and are not credentials for an API (its ``nonce``,
  ``at_hash``/``c_hash`` or ``typ`` give it away).
* Opaque tokens, by introspection (RFC 7662): ``active`` must be true, ``exp`` (when given)
  in the future, ``iss`` (when given) the provider's, and the token meant for us: its ``aud``
  (when given) holds the audience, otherwise it was issued to our client_id.

Both refuse a token issued to a client rather than a user (client credentials grant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joserfc.jwt import JWTClaimsRegistry

from regauth.oidc.errors import TokenRejected
from regauth.oidc.id_token import registry_errors

__all__ = ["check_introspection", "check_jwt_access_token"]

_ACCESS_TOKEN_TYPES = {"jwt", "at+jwt", "application/at+jwt"}
_ID_TOKEN_MARKERS = ("nonce", "at_hash", "c_hash", "s_hash")


def _audiences(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _refuse_client_tokens(claims: Mapping[str, Any], *, require_subject: bool) -> None:
    subject = claims.get("sub")
    if subject is None and not require_subject:
        return  # RFC 7662 makes sub optional: the user is then asked from UserInfo
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("the token names no user (sub)")
    if claims.get("client_id") == subject:  # RFC 9068 section 2.2: sub is the client's id
        raise TokenRejected("the token was issued to a client, not to a user")


def check_jwt_access_token(
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: int,
    leeway: int = 30,
) -> None:
    kind = header.get("typ")
    if kind is not None and str(kind).lower() not in _ACCESS_TOKEN_TYPES:
        raise TokenRejected(f"a JWT of type {str(kind)[:30]!r} is not an access token")
    if any(marker in claims for marker in _ID_TOKEN_MARKERS):
        raise TokenRejected("an ID token is not an access token")
    # exp without leeway; nbf and iat with some, for a provider whose clock runs ahead
    if isinstance(claims.get("exp"), int | float) and claims["exp"] <= now:
        raise TokenRejected("the access token has expired")
    registry = JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    )
    registry_errors(registry, dict(claims), "access token")
    _refuse_client_tokens(claims, require_subject=True)


def check_introspection(
    answer: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    client_id: str,
    now: int,
) -> None:
    if answer.get("active") is not True:
        raise TokenRejected("the provider says the token is not active")
    exp = answer.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp <= now):
        raise TokenRejected("the access token has expired")
    iss = answer.get("iss")
    if iss is not None and str(iss).rstrip("/") != issuer.rstrip("/"):
        raise TokenRejected("the token is from another issuer")
    for name in ("token_type", "typ"):
        kind = answer.get(name)
        if kind is not None and str(kind).lower() not in ("bearer", "dpop", "access_token"):
            raise TokenRejected(f"a token of type {str(kind)[:30]!r} is not an access token")
    audiences = _audiences(answer.get("aud"))
    if audiences:
        if audience not in audiences:
            raise TokenRejected("the token is meant for another audience")
    elif answer.get("client_id") != client_id:
        raise TokenRejected("the token was issued to another client")
    _refuse_client_tokens(answer, require_subject=False)
