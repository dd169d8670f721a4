"""A provider's signing keys (RFC 7517 key sets) and JWS signature checks (RFC 7515).

:class:`KeySetCache` keeps the provider's ``jwks_uri`` document: fetched on first use, again
after ``max_age``, and again when a token names a ``kid`` it does not hold (a key rotation),
but not more than once per ``min_refresh_interval``, so a flood of tokens with made-up key IDs
cannot turn into a flood of requests to the provider. While the provider is unreachable, keys
already held keep working.

Only asymmetric algorithms are accepted (no ``none``, no HMAC with a public key).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson
import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from regauth.oidc.errors import ProviderUnavailable, TokenRejected
from regauth.oidc.fetch import exchange

__all__ = [
    "ALGORITHMS",
    "KeySetCache",
    "PublicKey",
    "looks_like_jwt",
    "peek",
    "verify_signature",
]

log = structlog.get_logger("regauth.oidc")

ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
#: three base64url parts; the lookbehind keeps even search() linear (tried only where a run begins)
_JWS = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+")
#: larger than any access or ID token seen in the wild
MAX_TOKEN_LENGTH = 16 * 1024

PublicKey = RSAKey | ECKey | OKPKey


def _registry(algorithms: Sequence[str]) -> JWSRegistry:
    registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
    registry.max_header_length = 8 * 1024  # x5c chains in the header
    return registry


def _b64decode_json(part: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def looks_like_jwt(value: str) -> bool:
    """Three base64url parts whose first is a JSON header with an ``alg``."""
    if len(value) > MAX_TOKEN_LENGTH or not _JWS.fullmatch(value):
        return False
    try:
        header = _b64decode_json(value.split(".", 1)[0])
    except (ValueError, orjson.JSONDecodeError):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWS, NOT verified: only to choose the provider and the key."""
    if not looks_like_jwt(token):
        raise TokenRejected("not a signed JWT")
    header_part, claims_part, _ = token.split(".")
    try:
        header, claims = _b64decode_json(header_part), _b64decode_json(claims_part)
    except (ValueError, orjson.JSONDecodeError):
        raise TokenRejected("the JWT is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRejected("the JWT header or claims are not JSON objects")
    return header, claims


def _fits(key: PublicKey, algorithm: str) -> bool:
    if key.get("use") not in (None, "sig") or key.get("alg") not in (None, algorithm):
        return False
    if algorithm.startswith(("RS", "PS")):
        return isinstance(key, RSAKey)
    if algorithm in _EC_CURVES:
        return isinstance(key, ECKey) and key.get("crv") == _EC_CURVES[algorithm]
    return isinstance(key, OKPKey) and key.get("crv") in ("Ed25519", "Ed448")


def import_keys(document: Any) -> list[PublicKey]:
    """The usable public signing keys of a JWKS document; others are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set: no keys list")
    keys: list[PublicKey] = []
    for item in document["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if any(name in item for name in ("d", "p", "q")):
            continue  # a private key in a public document: refuse to use it
        try:
            key = JWKRegistry.import_key(item)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey | ECKey | OKPKey):
            keys.append(key)
    return keys


def verify_signature(
    token: str, keys: Sequence[PublicKey], algorithms: Sequence[str]
) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` verifies its signature."""
    header, _ = peek(token)
    algorithm = header.get("alg")
    if algorithm not in algorithms or algorithm not in ALGORITHMS:
        raise TokenRejected(f"signature algorithm {str(algorithm)[:20]!r} is not accepted")
    if "crit" in header:
        raise TokenRejected("the JWT has critical header parameters regauth does not know")
    registry = _registry([algorithm])
    for key in keys:
        try:
            return dict(jwt.decode(token, key, algorithms=[algorithm], registry=registry).claims)
        except JoseError:
            continue
    raise TokenRejected("the signature does not verify with the provider's keys")


class KeySetCache:
    def __init__(
        self,
        jwks_uri: str,
        *,
        provider: str,
        timeout: float,
        clock: Callable[[], float] = time.time,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
    ) -> None:
        self._uri = jwks_uri
        self._provider = provider
        self._timeout = timeout
        self._clock = clock
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._keys: list[PublicKey] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        #: how many times the key set was fetched (for tests and metrics)
        self.fetches = 0

    async def _refresh(self, http: httpx.AsyncClient) -> None:
        self._fetched_at = self._clock()  # also after a failure: that is the rate limit
        self.fetches += 1
        answer = await exchange(
            http,
            "GET",
            self._uri,
            provider=self._provider,
            what="the key set (jwks_uri)",
            timeout=self._timeout,
        )
        if answer.status != 200:
            raise ProviderUnavailable(
                f"{self._provider}: the key set at {self._uri} answered HTTP {answer.status}"
            )
        try:
            self._keys = import_keys(answer.body)
        except ValueError as exc:
            raise ProviderUnavailable(f"{self._provider}: unusable key set: {exc}") from None

    async def keys_for(
        self, http: httpx.AsyncClient, kid: str | None, algorithm: str
    ) -> list[PublicKey]:
        """Keys that may have signed a token with this ``kid`` and ``alg``; may be empty."""
        async with self._lock:
            age = self._clock() - self._fetched_at
            if self._keys is None or age >= self._max_age:
                try:
                    await self._refresh(http)
                except ProviderUnavailable:
                    if self._keys is None:
                        raise
                    log.warning("keeping the provider's previous keys", provider=self._provider)
            found = self._select(kid, algorithm)
            if (
                not found
                and kid is not None
                and self._clock() - self._fetched_at >= self._min_refresh_interval
            ):
                log.info("unknown key id: fetching the key set", provider=self._provider)
                await self._refresh(http)
                found = self._select(kid, algorithm)
            return found

    def _select(self, kid: str | None, algorithm: str) -> list[PublicKey]:
        keys = [k for k in self._keys or () if _fits(k, algorithm)]
        if kid is not None:
            return [k for k in keys if k.kid == kid]
        return keys
