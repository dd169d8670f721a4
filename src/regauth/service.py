"""TokenService: the request pipeline, with no HTTP types.

    TokenRequest ─▶ authenticate ─▶ authorize (per scope) ─▶ sign ─▶ IssuedToken

Every failure is a :class:`regauth.protocol.errors.ProtocolError` carrying its status; the
web layer only translates.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from regauth.authn.base import ANONYMOUS, Identity
from regauth.authn.chain import AuthenticationFailed, AuthenticatorChain
from regauth.authn.refresh import RefreshTokens
from regauth.authz.base import AccessContext, Decision, IpAddress
from regauth.authz.chain import AuthorizerChain
from regauth.protocol.claims import (
    AccessEntry,
    ClaimsTemplate,
    token_response,
    token_response_json,
)
from regauth.protocol.errors import (
    InvalidGrant,
    InvalidRequest,
    Unauthorized,
    UnsupportedGrantType,
)
from regauth.protocol.jws import JwsSigner
from regauth.protocol.request import GrantType, TokenRequest
from regauth.protocol.scope import Scope

__all__ = ["ClientInfo", "Grant", "IssuedToken", "TokenService"]

INVALID_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    address: IpAddress | None
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one token request is granted: who asked, for which service, scope by scope.

    ``reusable_for`` is how many seconds the very same request may be answered with this grant
    again without authenticating and authorizing anew (the login is in the credential cache);
    None when it must be checked every time (tokens that can be revoked, refresh tokens)."""

    identity: Identity
    service: str
    decisions: tuple[Decision, ...]
    reusable_for: float | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The token endpoint's answer (``body``) for a grant."""

    body: dict[str, Any]
    grant: Grant

    @property
    def identity(self) -> Identity:
        return self.grant.identity

    @property
    def service(self) -> str:
        return self.grant.service

    @property
    def decisions(self) -> Sequence[Decision]:
        return self.grant.decisions


class _RandomPool:
    """Bytes from the operating system's CSPRNG, read a few KiB at a time: one ``getrandom``
    call serves 227 JWT ids instead of one each. Every id still takes 18 fresh bytes; none is
    ever handed out twice."""

    __slots__ = ("_buffer", "_lock", "_offset")
    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            end = self._offset + count
            if end > len(self._buffer):
                self._buffer = os.urandom(max(self.SIZE, count))
                self._offset, end = 0, count
            chunk = self._buffer[self._offset : end]
            self._offset = end
            return chunk

    def forget(self) -> None:
        """In a forked child: never reuse the parent's unread bytes."""
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.forget)


def new_jwt_id() -> str:
    """A JWT id: 144 random bits, URL-safe base64 (as ``secrets.token_urlsafe(18)``)."""
    return base64.urlsafe_b64encode(_pool.take(18)).decode("ascii")


class TokenService:
    def __init__(
        self,
        *,
        authenticators: AuthenticatorChain,
        authorizers: AuthorizerChain,
        signer: JwsSigner,
        issuer: str,
        services: Sequence[str],
        expires_in: int,
        clock: Callable[[], float] = time.time,
        jwt_id: Callable[[], str] = new_jwt_id,
        refresh_tokens: RefreshTokens | None = None,
    ) -> None:
        if not services:
            raise ValueError("at least one service is needed")
        self._authenticators = authenticators
        self._cache = authenticators.cache
        self._authorizers = authorizers
        self._signer = signer
        self._issuer = issuer
        self._services = tuple(services)
        self._expires_in = expires_in
        self._clock = clock
        self._jwt_id = jwt_id
        self._refresh = refresh_tokens

    @property
    def signer(self) -> JwsSigner:
        return self._signer

    @property
    def authorizers(self) -> AuthorizerChain:
        return self._authorizers

    def set_signer(self, signer: JwsSigner) -> None:
        """Sign every token from now on with ``signer`` (a key rotation); remembered grants
        are signed with it too, since they keep claims, not tokens."""
        self._signer = signer

    @property
    def generation(self) -> int:
        """Moves on whenever a grant decided before may no longer hold: a cached login was
        dropped (a password, an account or an htpasswd file changed) or grants were reloaded."""
        return self._cache.generation + self._authorizers.generation

    async def catch_up(self) -> None:
        """Notice changes made elsewhere (other processes, the htpasswd file) before trusting
        anything decided earlier; cheap when nothing changed."""
        await self._authenticators.catch_up()

    def resolve_service(self, requested: str | None) -> str:
        if requested is None:
            return self._services[0]
        if requested not in self._services:
            raise InvalidRequest(
                f"unknown service {requested[:100]!r}: this server issues tokens for "
                + ", ".join(repr(s) for s in self._services)
            )
        return requested

    async def authenticate(
        self, request: TokenRequest, address: IpAddress | None = None
    ) -> Identity:
        if request.grant_type is GrantType.REFRESH_TOKEN:
            if self._refresh is None or request.refresh_token is None:
                raise UnsupportedGrantType(
                    "refresh tokens are not enabled on this server: use grant_type=password"
                )
            return await self._exchange_refresh_token(request, address)
        credentials = request.credentials
        if credentials is None:
            if request.account:
                raise InvalidRequest("account given without credentials")
            # no password check follows to catch up before: do it here, so a change made
            # elsewhere (such as a new signing key) applies to this request too
            await self.catch_up()
            return ANONYMOUS
        if request.account and request.account != credentials.username:
            raise InvalidRequest("account does not match the username of the credentials")
        try:
            return await self._authenticators.authenticate(
                credentials.username, credentials.password, address
            )
        except AuthenticationFailed as failure:
            reason = f"{failure.method}: {failure.reason}" if failure.method else failure.reason
            error = InvalidGrant if request.is_oauth2 else Unauthorized
            raise error(INVALID_CREDENTIALS, log_reason=reason) from None

    async def _exchange_refresh_token(
        self, request: TokenRequest, address: IpAddress | None
    ) -> Identity:
        """A refresh token for its user; invalid ones slow the address that sends them (a
        refresh token cannot be guessed, so they never count against an account)."""
        refresh = self._refresh
        token = request.refresh_token
        if refresh is None or token is None:  # pragma: no cover - checked by the caller
            raise UnsupportedGrantType("refresh tokens are not enabled on this server")
        await self.catch_up()
        limiter = self._authenticators.limiter
        if limiter is None:
            return await refresh.exchange(
                token, request.client_id, self.resolve_service(request.service)
            )
        state = await limiter.check("", address, high_entropy=True)
        try:
            return await refresh.exchange(
                token, request.client_id, self.resolve_service(request.service)
            )
        except InvalidGrant:
            await limiter.failed(state)
            raise

    def _reusable_for(self, request: TokenRequest, identity: Identity) -> float | None:
        if request.offline or request.grant_type is GrantType.REFRESH_TOKEN:
            return None
        cache = self._cache
        if identity.anonymous:
            return cache.ttl if cache.enabled else None
        credentials = request.credentials
        if credentials is None:
            return None
        return cache.remaining(credentials.username, credentials.password)

    async def decide(self, request: TokenRequest, client: ClientInfo) -> Grant:
        """Authenticate and authorize, scope by scope; every refusal is a ProtocolError."""
        service = self.resolve_service(request.service)
        identity = await self.authenticate(request, client.address)
        context = AccessContext(identity=identity, service=service, client_ip=client.address)
        decisions = tuple(await self._authorizers.decide_all(context, request.scopes))
        if identity.anonymous and request.scopes and not any(d.granted for d in decisions):
            raise Unauthorized(
                "authentication required", log_reason="anonymous request granted nothing"
            )
        return Grant(identity, service, decisions, self._reusable_for(request, identity))

    def claims_template(self, grant: Grant) -> ClaimsTemplate:
        """The claims every token for this grant shares (made once for a remembered grant)."""
        return ClaimsTemplate(
            issuer=self._issuer,
            subject=grant.identity.subject,
            audience=grant.service,
            access=[AccessEntry(d.scope.type, d.scope.name, d.granted) for d in grant.decisions],
            expires_in=self._expires_in,
        )

    def mint(self, claims: ClaimsTemplate) -> tuple[str, int]:
        """A new signed token (its own id and times) and the second it was issued at."""
        issued_at = int(self._clock())
        return self._signer.sign_payload(claims.render(issued_at, self._jwt_id())), issued_at

    def mint_response(self, claims: ClaimsTemplate) -> bytes:
        """The token endpoint's JSON answer for a new token of a grant decided before."""
        token, issued_at = self.mint(claims)
        return token_response_json(token, expires_in=self._expires_in, issued_at=issued_at)

    async def issue(self, request: TokenRequest, client: ClientInfo) -> IssuedToken:
        return await self.issue_for(await self.decide(request, client), request)

    async def issue_for(self, grant: Grant, request: TokenRequest) -> IssuedToken:
        """A token for a grant just decided, with a refresh token when one was asked for."""
        identity = grant.identity
        token, issued_at = self.mint(self.claims_template(grant))
        refresh_token = None
        if (
            request.offline
            and self._refresh is not None
            and request.grant_type is not GrantType.REFRESH_TOKEN
            and self._refresh.can_issue(identity)
        ):
            refresh_token = await self._refresh.issue(identity, request.client_id, grant.service)
        body = token_response(
            token,
            expires_in=self._expires_in,
            issued_at=issued_at,
            refresh_token=refresh_token,
            scope=granted_scope(grant.decisions) if request.is_oauth2 else None,
        )
        return IssuedToken(body=body, grant=grant)


def granted_scope(decisions: Sequence[Decision]) -> str:
    """What was granted, in the scope syntax, space-separated (scopes granted nothing left
    out; ``""`` when nothing was): the ``scope`` field of the OAuth2 answer."""
    return " ".join(
        str(Scope(d.scope.type, d.scope.name, d.granted, d.scope.resource_class))
        for d in decisions
        if d.granted
    )
