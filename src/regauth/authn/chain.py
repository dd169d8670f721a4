"""The authenticator chain: try each backend in order until one knows the user.

Around the backends it keeps three promises:

* **Equal cost for every failure.** A wrong password for a known user, a disabled user and
  an unknown name cost the same: after any failure every backend that did not check a
  password runs its stand-in check (a dummy hash of the kind and cost its real accounts use,
  see :meth:`Authenticator.verify_dummy`). Token-shaped secrets (``regauth_pat_...``,
  ``robot+NAME``) are looked up by hash and never cost a password check, known name or not.
* **Guessing limits** (:mod:`regauth.authn.guessing`): consulted before any password is
  checked; a blocked attempt is refused with no hash at all.
* **A bounded queue.** At most ``max_pending`` password checks wait or run at once; past
  that, requests are refused at once (503, ``Retry-After``) instead of queueing for seconds.
  Logins already cached and high-entropy secrets keep their fast path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from regauth.authn.base import Authenticator, Identity, Outcome
from regauth.authn.cache import CredentialCache
from regauth.authn.guessing import GuessingLimiter, IpAddress, LimitState, Throttled
from regauth.credentials import PAT_PREFIX, REFRESH_PREFIX, ROBOT_PREFIX, ROBOT_USER_PREFIX
from regauth.credentials.passwords import verify_password_off_loop
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret

__all__ = ["AuthenticationFailed", "AuthenticatorChain", "Overloaded", "is_high_entropy"]

log = structlog.get_logger("regauth.authn")

#: a compact JWS (an identity provider's access token): three base64url parts; the lookbehind
#: starts a search only where a run of base64url begins, so even search() is linear
_JWT = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_TOKEN_PREFIXES = (PAT_PREFIX, ROBOT_PREFIX, REFRESH_PREFIX)


def is_token_shaped(username: str, password: Secret) -> bool:
    """Credentials only the token lookup answers: a robot login or one of regauth's tokens."""
    return username.startswith(ROBOT_USER_PREFIX) or password.reveal().startswith(_TOKEN_PREFIXES)


def is_high_entropy(username: str, password: Secret) -> bool:
    """A secret nobody can guess (regauth's tokens, robot secrets, a JWT): its failures never
    lock the account, only slow the address that sent it."""
    if is_token_shaped(username, password):
        return True
    secret = password.reveal()
    return len(secret) <= 16384 and _JWT.fullmatch(secret) is not None


@dataclass
class AuthenticationFailed(Exception):
    """Wrong credentials. ``reason`` is for the log; the client hears only "invalid"."""

    reason: str
    method: str | None = None


class Overloaded(BackendUnavailable):
    """Too many password checks already waiting: refused at once (503, ``Retry-After``)."""

    def __init__(self) -> None:
        super().__init__(
            "the server is busy checking passwords: try again in a moment",
            log_reason="password check queue full",
            retry_after=1,
        )


class AuthenticatorChain:
    """Unknown user → next backend; wrong secret → denied at once; backend error → reported."""

    def __init__(
        self,
        authenticators: Sequence[Authenticator],
        dummy_hash: str,
        cache: CredentialCache | None = None,
        *,
        limiter: GuessingLimiter | None = None,
        max_pending: int = 0,
    ) -> None:
        self._authenticators = tuple(authenticators)
        #: the stand-in check for backends that have none of their own
        self._dummy_hash = dummy_hash
        self._cache = cache if cache is not None else CredentialCache(ttl=0, max_entries=0)
        self._limiter = limiter
        self._max_pending = max_pending
        self._pending = 0
        self._inflight: dict[bytes, asyncio.Future[Identity]] = {}
        #: awaited before each cache lookup: brings the cache up to date with other processes'
        #: changes that are known to have happened (``ChangeWatcher.catch_up``)
        self.before_cache_lookup: Callable[[], Awaitable[None]] | None = None
        #: told the name of each backend that could not answer (metrics)
        self.on_backend_error: Callable[[str], None] | None = None
        #: told each refusal: "throttled" (guessing limits) or "overloaded" (queue full)
        self.on_refused: Callable[[str], None] | None = None

    @property
    def cache(self) -> CredentialCache:
        return self._cache

    @property
    def authenticators(self) -> tuple[Authenticator, ...]:
        return self._authenticators

    @property
    def limiter(self) -> GuessingLimiter | None:
        return self._limiter

    @property
    def pending(self) -> int:
        """Password checks waiting or running now."""
        return self._pending

    async def catch_up(self) -> None:
        """Bring what the backends and the cache know up to date (a changed htpasswd file,
        another process's account changes): before anything cached is trusted."""
        for authenticator in self._authenticators:
            await authenticator.refresh()
        if self.before_cache_lookup is not None:
            await self.before_cache_lookup()

    async def authenticate(
        self, username: str, password: Secret, address: IpAddress | None = None
    ) -> Identity:
        await self.catch_up()
        cached = self._cache.get(username, password)
        if cached is not None:
            return cached
        # the same credentials arriving together (a client's burst, a CI farm starting) are
        # checked once: the others wait for that answer instead of each hashing again
        key = self._cache.key(username, password) + str(address).encode()
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._authenticate_guarded(username, password, address))
        self._inflight[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._inflight.pop(key, None)
            else:
                task.add_done_callback(lambda _: self._inflight.pop(key, None))

    async def _authenticate_guarded(
        self, username: str, password: Secret, address: IpAddress | None
    ) -> Identity:
        high_entropy = is_high_entropy(username, password)
        counted = not high_entropy
        if counted:
            if self._max_pending and self._pending >= self._max_pending:
                self._refused("overloaded")
                raise Overloaded
            self._pending += 1
        try:
            state: LimitState | None = None
            limiter = self._limiter
            if limiter is not None:
                try:
                    state = await limiter.check(username, address, high_entropy=high_entropy)
                except Throttled:
                    self._refused("throttled")
                    raise
                except Exception as exc:  # the database is away: fail closed
                    raise _limits_unavailable(exc) from None
            try:
                identity = await self._authenticate_uncached(username, password)
            except AuthenticationFailed:
                if limiter is not None and state is not None:
                    await _count(limiter.failed(state))
                raise
            if limiter is not None and state is not None:
                await _count(limiter.succeeded(state))
            return identity
        finally:
            if counted:
                self._pending -= 1

    def _refused(self, why: str) -> None:
        if self.on_refused is not None:
            self.on_refused(why)

    async def _authenticate_uncached(self, username: str, password: Secret) -> Identity:
        token_shaped = is_token_shaped(username, password)
        failure: BackendUnavailable | None = None
        unchecked: list[Authenticator] = []
        for authenticator in self._authenticators:
            if token_shaped and not getattr(authenticator, "handles_tokens", False):
                continue  # never a password check for a token-shaped secret
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
                if not token_shaped:
                    await self._equalize(unchecked, after=authenticator, password=password)
                raise AuthenticationFailed(result.reason, authenticator.name)
            if not result.checked:
                unchecked.append(authenticator)
        if failure is not None:
            raise failure
        if token_shaped:
            raise AuthenticationFailed("unknown token")
        await self._equalize(unchecked, after=None, password=password)
        raise AuthenticationFailed("unknown user")

    async def _equalize(
        self, unchecked: list[Authenticator], *, after: Authenticator | None, password: Secret
    ) -> None:
        """Run the stand-in check of every backend that checked no password for this failure
        (those that did not know the name, and those after the one that refused it), so every
        failure costs what a wrong password costs in every backend."""
        rest = list(unchecked)
        if after is not None:
            index = self._authenticators.index(after)
            rest += list(self._authenticators[index + 1 :])
        ran = False
        for authenticator in rest:
            verify_dummy = getattr(authenticator, "verify_dummy", None)
            if verify_dummy is not None:
                ran = await verify_dummy(password) or ran
        if not ran and after is None:
            await verify_password_off_loop(self._dummy_hash, password.encode())


async def _count(work: Awaitable[None]) -> None:
    """Record a failure or a success; a database that is away must not turn a refused login
    into an error page, nor a success into a failure (the check before already passed)."""
    try:
        await work
    except Exception as exc:
        log.error("recording a login for the guessing limits failed", error=str(exc)[:300])


def _limits_unavailable(exc: Exception) -> BackendUnavailable:
    log.error("checking the guessing limits failed", error=str(exc)[:300])
    return BackendUnavailable(
        "cannot check logins right now (the database is unavailable): try again later",
        log_reason=f"guessing limits unavailable: {str(exc)[:200]}",
    )
