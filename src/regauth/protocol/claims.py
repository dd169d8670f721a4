"""Claims of a registry token and the token endpoint's JSON answer.

The registry (2.8) parses ``aud`` as a string and ``exp``/``nbf`` as JSON integers; a list or
a float is a parse error there, so both are fixed here by construction.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AccessEntry", "build_claims", "rfc3339", "token_response"]


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


@functools.lru_cache(maxsize=4)
def rfc3339(epoch_seconds: int) -> str:
    """``issued_at``; the same second is formatted once (every token of that second uses it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def token_response(
    token: str, *, expires_in: int, issued_at: int, refresh_token: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": rfc3339(issued_at),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body
