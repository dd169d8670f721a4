"""The authenticator chain: try each backend in order until one knows the user."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from regauth.authn.base import Authenticator, Identity, Outcome
from regauth.authn.cache import CredentialCache
from regauth.authn.passwords import verify_password_off_loop
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret

__all__ = ["AuthenticationFailed", "AuthenticatorChain"]

log = structlog.get_logger("regauth.authn")


@dataclass
class AuthenticationFailed(Exception):
    """Wrong credentials. ``reason`` is for the log; the client hears only "invalid"."""

    reason: str
    method: str | None = None


class AuthenticatorChain:
    """Unknown user → next backend; wrong secret → denied at once; backend error → reported.

    When nobody knows the user, a dummy hash is verified so an unknown name costs the same
    time as a wrong password for a known one.
    """

    def __init__(
        self,
        authenticators: Sequence[Authenticator],
        dummy_hash: str,
        cache: CredentialCache | None = None,
    ) -> None:
        self._authenticators = tuple(authenticators)
        self._dummy_hash = dummy_hash
        self._cache = cache if cache is not None else CredentialCache(ttl=0, max_entries=0)
        self._inflight: dict[bytes, asyncio.Future[Identity]] = {}
        #: awaited before each cache lookup: brings the cache up to date with other processes'
        #: changes that are known to have happened (``ChangeWatcher.catch_up``)
        self.before_cache_lookup: Callable[[], Awaitable[None]] | None = None
        #: told the name of each backend that could not answer (metrics)
        self.on_backend_error: Callable[[str], None] | None = None

    @property
    def cache(self) -> CredentialCache:
        return self._cache

    @property
    def authenticators(self) -> tuple[Authenticator, ...]:
        return self._authenticators

    async def catch_up(self) -> None:
        """Bring what the backends and the cache know up to date (a changed htpasswd file,
        another process's account changes): before anything cached is trusted."""
        for authenticator in self._authenticators:
            await authenticator.refresh()
        if self.before_cache_lookup is not None:
            await self.before_cache_lookup()

    async def authenticate(self, username: str, password: Secret) -> Identity:
        await self.catch_up()
        cached = self._cache.get(username, password)
        if cached is not None:
            return cached
        # the same credentials arriving together (a client's burst, a CI farm starting) are
        # checked once: the others wait for that answer instead of each hashing again
        key = self._cache.key(username, password)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._authenticate_uncached(username, password))
        self._inflight[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._inflight.pop(key, None)
            else:
                task.add_done_callback(lambda _: self._inflight.pop(key, None))

    async def _authenticate_uncached(self, username: str, password: Secret) -> Identity:
        failure: BackendUnavailable | None = None
        for authenticator in self._authenticators:
            try:
                result = await authenticator.authenticate(username, password)
            except BackendUnavailable as exc:
                log.error(
                    "authentication backend failed", backend=authenticator.name, error=exc.message
                )
                if self.on_backend_error is not None:
                    self.on_backend_error(authenticator.name)
                failure = failure or exc
                continue
            if result.outcome is Outcome.AUTHENTICATED and result.identity is not None:
                if result.cacheable:
                    self._cache.put(username, password, result.identity)
                return result.identity
            if result.outcome is Outcome.DENIED:
                raise AuthenticationFailed(result.reason, authenticator.name)
        if failure is not None:
            raise failure
        await verify_password_off_loop(self._dummy_hash, password.encode())
        raise AuthenticationFailed("unknown user")
