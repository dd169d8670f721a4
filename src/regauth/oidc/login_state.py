"""The state of one browser login between ``/login/NAME`` and its callback, in a cookie.

A login sends the browser to the provider with a random ``state`` (RFC 6749 section 10.12,
against login CSRF), a random ``nonce`` (OpenID Connect, against ID token replay) and a PKCE
``code_challenge`` (RFC 7636, against stolen codes). The three secrets come back to the
callback in a cookie rather than server memory, so any worker of any instance can finish the
flow: the cookie is authenticated with HMAC-SHA256 under a key derived (HKDF) from a random
secret made once and shared by every instance through the database (``server_secrets``, named
:data:`SECRET_NAME`), and expires after ten minutes. It holds no personal data. (The secret is
not the token signing key: rotating that must not break logins in flight.)

Format: ``base64url(JSON) "." base64url(HMAC(key, "regauth-login." + base64url(JSON)))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MAX_AGE",
    "SECRET_NAME",
    "InvalidLoginState",
    "LoginState",
    "LoginStateCodec",
    "code_challenge",
    "derive_key",
]

#: seconds a login may take between leaving for the provider and coming back
MAX_AGE = 600
#: the name of the shared random secret the cookie key is derived from (``server_secrets``)
SECRET_NAME = "oidc-login-state"  # noqa: S105 - the name of a secret, not one
_CONTEXT = b"regauth-login."
_HKDF_INFO = b"regauth oidc login state cookie v1"
_B64 = re.compile(r"[A-Za-z0-9_-]+")


class InvalidLoginState(ValueError):
    """The cookie is missing, altered, expired or for another provider; the message says which."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 section 4.2)."""
    return _b64encode(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class LoginState:
    provider: str
    state: str
    nonce: str
    code_verifier: str
    issued_at: int
    #: the registry host to show in the login commands (``?registry=`` on the login link)
    registry: str | None = None
    #: a sign-in to the web console (a session, no token page) rather than a token login
    console: bool = False
    #: where the console sends the person after signing in (a path of the console)
    next: str | None = None

    @classmethod
    def new(
        cls,
        provider: str,
        now: float,
        registry: str | None = None,
        *,
        console: bool = False,
        next_path: str | None = None,
    ) -> LoginState:
        return cls(
            provider=provider,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters, within 43..128
            issued_at=int(now),
            registry=registry,
            console=console,
            next=next_path[:2000] if next_path else None,
        )


def derive_key(secret: bytes) -> bytes:
    """A 256-bit HMAC key from the shared secret (the same on every instance)."""
    if len(secret) < 32:
        raise ValueError("the login state secret must have at least 256 bits")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


class LoginStateCodec:
    def __init__(
        self, key: bytes, *, max_age: int = MAX_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 32:
            raise ValueError("the login state key must have at least 256 bits")
        self._key = key
        self._max_age = max_age
        self._clock = clock

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(digest)

    def encode(self, state: LoginState) -> str:
        payload = _b64encode(orjson.dumps(asdict(state)))
        return f"{payload}.{self._mac(payload)}"

    def decode(self, value: str | None, provider: str) -> LoginState:
        if not value:
            raise InvalidLoginState("no login cookie (expired, blocked, or another browser)")
        payload, _, mac = value.partition(".")
        if not _B64.fullmatch(payload) or not _B64.fullmatch(mac) or len(value) > 4096:
            raise InvalidLoginState("malformed login cookie")
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode()):
            raise InvalidLoginState("the login cookie's signature does not verify")
        try:
            fields = orjson.loads(_b64decode(payload))
            state = LoginState(**fields)
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
            raise InvalidLoginState("malformed login cookie") from None
        age = self._clock() - state.issued_at
        if age > self._max_age:
            raise InvalidLoginState(f"the login took longer than {self._max_age // 60} minutes")
        if age < -60:
            raise InvalidLoginState("the login cookie was issued in the future")
        if state.provider != provider:
            raise InvalidLoginState(f"the login was started for provider {state.provider!r}")
        return state
