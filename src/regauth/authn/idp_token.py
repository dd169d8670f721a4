"""An identity provider's access token as the docker password (``accept_access_tokens``).

``docker login -u alice -p <access token from the company's IdP>``: the token is checked with
the provider that issued it, and the Basic user name must be the user the token names.

* A password that looks like neither a JWT nor an opaque OAuth2 token, or a JWT from an issuer
  no provider is configured for: not ours (UNKNOWN, the next authenticator may know it).
* A JWT is verified against the issuer's keys (:mod:`regauth.oidc.jwks`: fetched again when
  a ``kid`` is unknown, at most every 30 s); an opaque token is introspected (RFC 7662) by each
  provider with ``introspection`` on, until one says it is active.
* Results are cached under the SHA-256 of the token, bounded in number, and never past the
  token's ``exp``. A token the provider could revoke before ``exp`` (introspected) is asked
  again after at most ``revocable_ttl`` seconds (60 by default), so a revocation at the
  provider takes effect within a minute; a JWT cannot be revoked, and is trusted until ``exp``.
  Definite refusals (bad signature, inactive, expired, wrong audience) are cached for
  ``negative_ttl`` seconds.
* A provider that is down or slower than its ``timeout`` makes the request fail with
  :class:`BackendUnavailable` (503), never a grant. A JWT whose keys are already known is
  still verified while the provider is down.
* On success the user is created or updated (source ``oidc:NAME``) with the provider's groups,
  as a browser login does; a disabled user is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from regauth.accounts import AccountError, AccountService
from regauth.authn.base import AuthResult, Identity
from regauth.authn.database import identity_for_user, load_user_identity
from regauth.authn.expiring_cache import ExpiringCache
from regauth.config import OidcProviderConfig
from regauth.oidc.errors import IdentityRejected, ProviderUnavailable, TokenRejected
from regauth.oidc.factory import build_provider
from regauth.oidc.jwks import looks_like_jwt
from regauth.oidc.presets import resolve_provider
from regauth.oidc.provider import (
    IdentityProvider,
    VerifiedToken,
    looks_like_opaque_token,
)
from regauth.oidc.users import provision_user
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret

__all__ = ["IdpTokenAuthenticator"]

log = structlog.get_logger("regauth.authn")


@dataclass(slots=True)
class _Accepted:
    provider: IdentityProvider
    token: VerifiedToken
    #: the user row was created/updated and the groups synced for this token
    synced: bool = False


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str
    #: stays refused (cached); not so for a key ID the provider may publish a moment later
    definite: bool = True


_Verdict = _Accepted | _Refused


class IdpTokenAuthenticator:
    name = "idp_token"

    def __init__(
        self,
        providers: Sequence[IdentityProvider],
        *,
        accounts: AccountService,
        clock: Callable[[], float] = time.time,
        max_entries: int = 10_000,
        revocable_ttl: float = 60.0,
        negative_ttl: float = 300.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._providers = tuple(providers)
        self._accounts = accounts
        self._clock = clock
        self._cache: ExpiringCache[_Verdict] = ExpiringCache(max_entries)
        self._revocable_ttl = revocable_ttl
        self._negative_ttl = negative_ttl
        self._http = http
        self._own_http = http is None
        self._inflight: dict[str, asyncio.Future[_Verdict | None]] = {}

    @classmethod
    def from_config(
        cls,
        configs: Sequence[OidcProviderConfig],
        *,
        accounts: AccountService,
        clock: Callable[[], float] = time.time,
        revocable_ttl: float = 60.0,
    ) -> IdpTokenAuthenticator:
        """Providers from the configuration; a problem raises :class:`ProviderConfigError`
        naming the key."""
        settings = [resolve_provider(c) for c in configs]
        providers = [build_provider(s, clock=clock) for s in settings]
        return cls(providers, accounts=accounts, clock=clock, revocable_ttl=revocable_ttl)

    @property
    def providers(self) -> tuple[IdentityProvider, ...]:
        return self._providers

    @property
    def cached_tokens(self) -> int:
        return len(self._cache)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                headers={"user-agent": "regauth"}, limits=httpx.Limits(max_connections=50)
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None and self._own_http:
            await self._http.aclose()
            self._http = None

    async def refresh(self) -> None:
        return None

    # ------------------------------------------------------------------ checking a token

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        token = password.reveal()
        is_jwt = looks_like_jwt(token)
        if not is_jwt and not looks_like_opaque_token(token):
            return AuthResult.unknown()
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        verdict = self._cache.get(key, self._clock())
        if verdict is None:
            verdict = await self._verify_once(key, token, is_jwt)
        if verdict is None:
            return AuthResult.unknown()
        if isinstance(verdict, _Refused):
            return AuthResult.denied(verdict.reason)
        identity = verdict.token.identity
        if identity.username != username:
            return AuthResult.denied(
                f"{verdict.provider.settings.name}: the token belongs to "
                f"{identity.username!r}, not to the user name given"
            )
        return await self._user(verdict)

    async def _verify_once(self, key: str, token: str, is_jwt: bool) -> _Verdict | None:
        """Verify, with concurrent requests for the same token sharing one verification."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Verdict | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            verdict = await self._verify(token, is_jwt)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            future.set_result(verdict)
            self._remember(key, verdict)
            return verdict
        finally:
            del self._inflight[key]

    def _remember(self, key: str, verdict: _Verdict | None) -> None:
        now = self._clock()
        if isinstance(verdict, _Accepted):
            expires_at = verdict.token.expires_at
            until = expires_at if expires_at is not None else now + self._revocable_ttl
            if verdict.token.revocable:
                until = min(until, now + self._revocable_ttl)
            self._cache.put(key, verdict, until, now)
        elif isinstance(verdict, _Refused) and verdict.definite:
            self._cache.put(key, verdict, now + self._negative_ttl, now)

    async def _verify(self, token: str, is_jwt: bool) -> _Verdict | None:
        http = self._client()
        unavailable: list[tuple[str, ProviderUnavailable]] = []
        for provider in self._providers:
            name = provider.settings.name
            try:
                verified = await provider.verify_access_token(http, token)
            except ProviderUnavailable as exc:
                log.error("identity provider unavailable", provider=name, error=exc.message)
                unavailable.append((name, exc))
                continue
            except (TokenRejected, IdentityRejected) as exc:
                log.info("identity provider token refused", provider=name, reason=exc.message)
                definite = not isinstance(exc, TokenRejected) or exc.definite
                return _Refused(f"{name}: {exc.message}", definite)
            if verified is not None:
                log.info(
                    "identity provider token accepted",
                    provider=name,
                    user=verified.identity.username,
                )
                return _Accepted(provider, verified)
        if unavailable:
            names = ", ".join(name for name, _ in unavailable)
            raise BackendUnavailable(
                f"identity provider {names} unavailable",
                log_reason="; ".join(exc.message for _, exc in unavailable),
            )
        if is_jwt:
            return None  # no configured provider issued it
        if any(p.settings.introspection for p in self._providers):
            return _Refused("no identity provider knows this token (inactive or unknown)")
        return None

    # ------------------------------------------------------------------ the user

    def _sync(self, accepted: _Accepted) -> tuple[int, bool, bool]:
        return provision_user(self._accounts, accepted.provider.settings, accepted.token.identity)

    def _load(self, username: str) -> Identity | None:
        return load_user_identity(self._accounts.database, username, method=self.name)

    async def _user(self, accepted: _Accepted) -> AuthResult:
        database = self._accounts.database
        username = accepted.token.identity.username
        try:
            loaded = None
            if accepted.synced:
                loaded = await database.run(self._load, username)
            if loaded is None:  # first use of this token, or the user was deleted or disabled
                _, enabled, _ = await database.run(self._sync, accepted)
                if not enabled:
                    return AuthResult.denied("user is disabled")
                accepted.synced = True
                loaded = await database.run(self._load, username)
        except AccountError as exc:
            return AuthResult.denied(exc.message)
        except SQLAlchemyError as exc:
            raise BackendUnavailable(
                "the database is unavailable", log_reason=type(exc).__name__
            ) from None
        if loaded is None or loaded.user_id is None:
            return AuthResult.denied("user is disabled")
        identity = identity_for_user(
            loaded.user_id,
            loaded.subject,
            loaded.groups,
            loaded.is_admin,
            method=self.name,
            credential="idp_token",
            labels=loaded.labels,
        )
        return AuthResult.success(identity, cacheable=False)
