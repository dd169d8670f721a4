"""Claims of a registry token and the token endpoint's JSON answer.

The registry (2.8) parses ``aud`` as a string and ``exp``/``nbf`` as JSON integers; a list or
a float is a parse error there, so both are fixed here by construction.

Tokens for the same grant differ only in their times and id, so :class:`ClaimsTemplate`
serializes the rest once and each token fills in four numbers and a string.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "AccessEntry",
    "ClaimsTemplate",
    "build_claims",
    "rfc3339",
    "token_response",
    "token_response_json",
]

#: characters a JWT id may have (URL-safe base64): nothing to escape in JSON
_JWT_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class AccessEntry:
    type: str
    name: str
    actions: tuple[str, ...]

    def as_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def build_claims(
    *,
    issuer: str,
    subject: str,
    audience: str,
    access: Sequence[AccessEntry],
    issued_at: int,
    expires_in: int,
    jwt_id: str,
) -> dict[str, Any]:
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": int(issued_at + expires_in),
        "nbf": int(issued_at),
        "iat": int(issued_at),
        "jti": jwt_id,
        "access": [entry.as_claim() for entry in access],
    }


class ClaimsTemplate:
    """The claims of every token for one subject, audience and access list, serialized once.

    ``render(issued_at, jwt_id)`` gives the same JSON as ``orjson.dumps(build_claims(...))``
    with the same values, key for key and byte for byte."""

    __slots__ = ("_expires_in", "_head", "_tail")

    def __init__(
        self,
        *,
        issuer: str,
        subject: str,
        audience: str,
        access: Sequence[AccessEntry],
        expires_in: int,
    ) -> None:
        head = orjson.dumps({"iss": issuer, "sub": subject, "aud": audience})
        self._head = head[:-1] + b',"exp":'
        self._tail = b',"access":' + orjson.dumps([entry.as_claim() for entry in access]) + b"}"
        self._expires_in = int(expires_in)

    def render(self, issued_at: int, jwt_id: str) -> bytes:
        if _JWT_ID.fullmatch(jwt_id) is None:
            raise ValueError("a JWT id must be URL-safe base64")
        return b'%s%d,"nbf":%d,"iat":%d,"jti":"%s"%s' % (
            self._head,
            issued_at + self._expires_in,
            issued_at,
            issued_at,
            jwt_id.encode("ascii"),
            self._tail,
        )


@functools.lru_cache(maxsize=4)
def rfc3339(epoch_seconds: int) -> str:
    """``issued_at``; the same second is formatted once (every token of that second uses it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def token_response(
    token: str,
    *,
    expires_in: int,
    issued_at: int,
    refresh_token: str | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """The token endpoint's answer. ``scope`` (the granted scopes, space-separated) is what
    the OAuth2 form's answer must carry ("OAuth2 Token Authentication": REQUIRED, stronger
    than RFC 6749); the GET answer of the "Token Authentication Specification" has none."""
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": rfc3339(issued_at),
    }
    if scope is not None:
        body["scope"] = scope
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


def token_response_json(token: str, *, expires_in: int, issued_at: int) -> bytes:
    """``orjson.dumps(token_response(...))`` without a refresh token, built directly: a JWS
    compact serialization is URL-safe base64 and dots, nothing JSON would escape."""
    encoded = token.encode("ascii")
    return b'{"token":"%s","access_token":"%s","expires_in":%d,"issued_at":"%s"}' % (
        encoded,
        encoded,
        expires_in,
        rfc3339(issued_at).encode("ascii"),
    )
