"""The identity side of a browser login: providers, login state, code exchange, provisioning.

:class:`LoginFlow` holds the configured providers (a misconfigured one is remembered with its
reason, not raised), signs and checks the login state (``state``, ``nonce`` and the PKCE
verifier in a ten-minute cookie value, :mod:`regauth.oidc.login_state`), exchanges the code and
verifies the identity (:mod:`regauth.oidc`), then creates or updates the user and issues their
personal access token. It speaks no HTTP of its own: every way a login fails is a
:class:`LoginFailure` carrying the status, the words for the person and the reason for the log.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from regauth.accounts import AccountError, Conflict, Created, TokenView
from regauth.oidc.claims import ExternalIdentity
from regauth.oidc.errors import (
    IdentityRejected,
    ProviderRefused,
    ProviderUnavailable,
    TokenRejected,
)
from regauth.oidc.factory import build_provider
from regauth.oidc.login_state import (
    InvalidLoginState,
    LoginState,
    LoginStateCodec,
    code_challenge,
    derive_key,
)
from regauth.oidc.presets import ProviderConfigError, ProviderSettings, resolve_provider
from regauth.oidc.provider import IdentityProvider
from regauth.oidc.users import provision_user
from regauth.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["LoginFailure", "LoginFlow"]

log = structlog.get_logger("regauth.login")

_PROVIDER_ERRORS_DENIED = {"access_denied", "login_required", "consent_required"}


@dataclass
class LoginFailure(Exception):
    """A failed login: ``status`` and ``message`` for the person, ``reason`` for the log."""

    status: int
    title: str
    message: str
    reason: str


class LoginFlow:
    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Callable[[], float],
        http_factory: Callable[[], httpx.AsyncClient],
    ) -> None:
        self._accounts = runtime.accounts
        self._clock = clock
        self._http_factory = http_factory
        self._codec = LoginStateCodec(derive_key(runtime.login_secret), clock=clock)
        self._base_url = runtime.config.server.base_url()
        self._providers: dict[str, IdentityProvider] = {}
        self._broken: dict[str, str] = {}
        for entry in runtime.config.oidc.providers:
            try:
                self._providers[entry.name] = build_provider(resolve_provider(entry), clock=clock)
            except ProviderConfigError as exc:
                self._broken[entry.name] = str(exc)
                log.error("login provider misconfigured", provider=entry.name, error=str(exc))

    @property
    def providers(self) -> Mapping[str, IdentityProvider]:
        """The providers one can log in with, by name (the misconfigured ones left out)."""
        return self._providers

    def redirect_uri(self, name: str) -> str:
        return f"{self._base_url}/login/{name}/callback"

    def provider(self, name: str) -> IdentityProvider:
        provider = self._providers.get(name)
        if provider is not None:
            return provider
        if name in self._broken:
            raise LoginFailure(
                500,
                "Login provider misconfigured",
                "This login provider is not configured correctly; the server log says why.",
                self._broken[name],
            )
        raise LoginFailure(
            404,
            "Unknown login provider",
            "There is no login provider of that name.",
            "unknown provider",
        )

    # ------------------------------------------------------------------ start

    async def begin(
        self,
        name: str,
        registry: str | None,
        *,
        console: bool = False,
        next_path: str | None = None,
    ) -> tuple[LoginState, str]:
        """A new login state and the provider's authorization URL to send the browser to."""
        provider = self.provider(name)
        state = LoginState.new(name, self._clock(), registry, console=console, next_path=next_path)
        try:
            async with self._http_factory() as http:
                url = await provider.authorization_url(
                    http,
                    redirect_uri=self.redirect_uri(name),
                    state=state.state,
                    nonce=state.nonce,
                    code_challenge=code_challenge(state.code_verifier),
                )
        except ProviderUnavailable as exc:
            raise _unavailable(exc) from None
        return state, url

    def encode(self, state: LoginState) -> str:
        """The signed cookie value that carries ``state`` to the callback."""
        return self._codec.encode(state)

    # ------------------------------------------------------------------ callback

    def check_state(self, name: str, query: Mapping[str, str], cookie: str | None) -> LoginState:
        """The login state from the cookie, if intact, fresh, for ``name`` and ``?state=``."""
        try:
            state = self._codec.decode(cookie, name)
        except InvalidLoginState as exc:
            raise LoginFailure(
                400,
                "Login session missing or expired",
                "This login cannot be finished: its session is missing, expired or was "
                "altered (logins must finish within ten minutes, in the browser that started "
                "them). Please start again.",
                str(exc),
            ) from None
        given = query.get("state")
        if given is None or not hmac.compare_digest(given.encode(), state.state.encode()):
            raise LoginFailure(
                400,
                "Login session mismatch",
                "The answer from the login provider does not belong to this login session. "
                "Please start again.",
                "state parameter does not match the login cookie",
            )
        return state

    async def complete(
        self, provider: IdentityProvider, state: LoginState, query: Mapping[str, str]
    ) -> ExternalIdentity:
        """The verified identity, from the provider's answer (a code, or an error)."""
        error = query.get("error")
        if error is not None:
            description = query.get("error_description", "")[:200]
            status = 403 if error in _PROVIDER_ERRORS_DENIED else 502
            raise LoginFailure(
                status,
                "Login refused by the provider",
                f"The login provider answered: {error[:60]}"
                + (f" ({description})" if description else ""),
                f"provider error {error[:60]}",
            )
        code = query.get("code")
        if not code:
            raise LoginFailure(400, "Login incomplete", "The provider sent no code.", "no code")
        try:
            async with self._http_factory() as http:
                return await provider.complete_login(
                    http,
                    code=code,
                    redirect_uri=self.redirect_uri(provider.settings.name),
                    code_verifier=state.code_verifier,
                    nonce=state.nonce,
                    issuer=query.get("iss"),
                )
        except ProviderUnavailable as exc:
            raise _unavailable(exc) from None
        except ProviderRefused as exc:
            if exc.error == "invalid_grant":
                raise LoginFailure(
                    400,
                    "Login code refused",
                    "The login provider refused the sign-in code: it was already used or has "
                    "expired. Please start again.",
                    exc.message,
                ) from None
            raise LoginFailure(
                502, "Login provider error", f"The login provider refused: {exc.error}", exc.message
            ) from None
        except TokenRejected as exc:
            raise LoginFailure(
                401,
                "Login could not be verified",
                f"The identity the login provider sent could not be verified: {exc.message}.",
                exc.message,
            ) from None
        except IdentityRejected as exc:
            raise LoginFailure(
                403, "Not allowed", f"You may not log in here: {exc.message}.", exc.message
            ) from None

    async def provision(
        self, settings: ProviderSettings, identity: ExternalIdentity
    ) -> Created[TokenView]:
        """Create or update the user and their groups, and issue their personal access token."""
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        return await self._provisioning(identity, self._create, settings, identity, now)

    async def provision_user(self, settings: ProviderSettings, identity: ExternalIdentity) -> int:
        """Create or update the user and their groups (a console sign-in); the user's id."""
        return await self._provisioning(identity, self._provision, settings, identity)

    async def _provisioning(
        self,
        identity: ExternalIdentity,
        function: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run account work of a login on the database's threads, its failures as pages."""
        try:
            return await self._accounts.run(function, *args, **kwargs)
        except Conflict as exc:
            raise LoginFailure(
                409,
                "Account name taken",
                f"An account named {identity.username!r} already exists and signs in "
                "another way; ask an administrator.",
                exc.message,
            ) from None
        except _Disabled:
            raise LoginFailure(
                403, "Account disabled", "Your account is disabled here.", "user is disabled"
            ) from None
        except AccountError as exc:
            raise LoginFailure(400, "Login failed", exc.message, exc.message) from None
        except SQLAlchemyError as exc:
            raise LoginFailure(
                503,
                "Service unavailable",
                "The database is unavailable; please try again shortly.",
                f"database: {type(exc).__name__}",
            ) from None

    def _provision(self, settings: ProviderSettings, identity: ExternalIdentity) -> int:
        user_id, enabled, _ = provision_user(self._accounts, settings, identity)
        if not enabled:
            raise _Disabled
        return user_id

    def _create(
        self, settings: ProviderSettings, identity: ExternalIdentity, now: datetime.datetime
    ) -> Created[TokenView]:
        _, enabled, _ = provision_user(self._accounts, settings, identity)
        if not enabled:
            raise _Disabled
        return self._accounts.create_token(
            identity.username,
            f"{settings.name} login {now:%Y-%m-%d %H:%M:%S}",
            expires_at=now + settings.token_lifetime,
        )


class _Disabled(Exception):
    pass


def _unavailable(exc: ProviderUnavailable) -> LoginFailure:
    return LoginFailure(
        502,
        "Login provider unavailable",
        "The login provider cannot be reached or answered unexpectedly; please try again "
        f"later. ({exc.message})",
        exc.message,
    )
