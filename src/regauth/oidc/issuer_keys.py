"""The signing keys of the issuers federated robots trust (CI systems), and signature checks.

A CI issuer publishes an OpenID discovery document with its ``jwks_uri`` (GitHub Actions'
has no authorization or token endpoint, so only ``issuer`` and ``jwks_uri`` are required
here). For each issuer :class:`IssuerKeys` keeps the document and a
:class:`~regauth.oidc.jwks.KeySetCache`: fetched on first use, again after ``max_age``, and
again when a token names a ``kid`` it does not know, at most once per
``min_refresh_interval``. At most ``max_issuers`` issuers are kept (the least recently used
goes). Only issuers a robot names are ever asked: the ``iss`` of a token is compared with the
robot's issuer before anything is fetched.

Signatures: asymmetric algorithms only (:data:`~regauth.oidc.jwks.ALGORITHMS`; never
``none`` or HMAC).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from regauth.oidc.discovery import DiscoveryError, WrongDiscoveryAnswer, discovery_url
from regauth.oidc.errors import TokenRejected
from regauth.oidc.fetch import exchange
from regauth.oidc.jwks import ALGORITHMS, KeySetCache, peek, verify_signature

__all__ = ["IssuerKeys", "jwks_uri_of"]


def jwks_uri_of(document: Any, issuer: str) -> str:
    """The ``jwks_uri`` of a discovery document that is for ``issuer``."""
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    found = document.get("issuer")
    if not isinstance(found, str) or found.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(f"the document is for issuer {str(found)[:200]!r}, not {issuer!r}")
    uri = document.get("jwks_uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        raise DiscoveryError("the discovery document has no jwks_uri URL")
    if issuer.startswith("https://") and not uri.startswith("https://"):
        raise DiscoveryError("jwks_uri must be https:// like the issuer")
    return uri


class IssuerKeys:
    def __init__(
        self,
        *,
        timeout: float,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
        max_issuers: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._timeout = timeout
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._max_issuers = max_issuers
        self._clock = clock
        self._sets: OrderedDict[str, KeySetCache] = OrderedDict()
        self._lock = asyncio.Lock()

    def key_set(self, issuer: str) -> KeySetCache | None:
        """The cached key set of ``issuer``, if it was fetched (for tests and metrics)."""
        return self._sets.get(issuer.rstrip("/"))

    async def _key_set(self, http: httpx.AsyncClient, issuer: str) -> KeySetCache:
        issuer = issuer.rstrip("/")
        async with self._lock:
            found = self._sets.get(issuer)
            if found is not None:
                self._sets.move_to_end(issuer)
                return found
            url = discovery_url(issuer)
            answer = await exchange(
                http,
                "GET",
                url,
                provider=issuer,
                what="the discovery document",
                timeout=self._timeout,
            )
            if answer.status != 200:
                raise WrongDiscoveryAnswer(
                    f"{issuer}: no discovery document at {url} (HTTP {answer.status})"
                )
            try:
                uri = jwks_uri_of(answer.body, issuer)
            except DiscoveryError as exc:
                raise WrongDiscoveryAnswer(
                    f"{issuer}: unusable discovery document: {exc}"
                ) from None
            keys = KeySetCache(
                uri,
                provider=issuer,
                timeout=self._timeout,
                clock=self._clock,
                max_age=self._max_age,
                min_refresh_interval=self._min_refresh_interval,
            )
            self._sets[issuer] = keys
            while len(self._sets) > self._max_issuers:
                self._sets.popitem(last=False)
            return keys

    async def verify(self, http: httpx.AsyncClient, issuer: str, token: str) -> dict[str, Any]:
        """The claims of ``token`` if ``issuer``'s keys verify its signature. Raises
        :class:`TokenRejected` (bad token) or ``ProviderUnavailable`` (issuer unreachable)."""
        header, _ = peek(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise TokenRejected(
                f"signature algorithm {str(algorithm)[:20]!r} is not accepted "
                f"(only {', '.join(ALGORITHMS)})"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the ID token's kid is not a string")
        keys = await (await self._key_set(http, issuer)).keys_for(http, kid, algorithm)
        if not keys:
            raise TokenRejected(
                f"unknown signing key: {issuer} publishes no {algorithm} key"
                + (f" with kid {kid[:64]!r}" if kid else "")
                + " (signed by another issuer's key?)",
                definite=False,
            )
        try:
            return verify_signature(token, keys, [algorithm])
        except TokenRejected as exc:
            raise TokenRejected(
                f"{exc.message} of {issuer} (signed by another issuer's key?)"
            ) from None
