"""Browser single sign-on: ``/login`` pages that end with a registry password.

* ``GET {prefix}/login``: the configured providers.
* ``GET {prefix}/login/NAME``: starts an authorization code flow with ``state``, ``nonce`` and
  PKCE (S256); the three travel in a signed ten-minute cookie (:mod:`regauth.oidc.login_state`)
  so any worker of any instance can finish the flow.
* ``GET {prefix}/login/NAME/callback``: checks the cookie and ``state`` (constant time),
  exchanges the code, verifies the ID token (signature, iss, aud, exp/iat, nonce), maps the
  user name and groups, applies ``allowed_groups`` (GitHub: organisation and teams), creates or
  updates the user (source ``oidc:NAME``) and their groups, and shows a new personal access
  token, valid for ``token_lifetime``, with ready-to-paste ``docker``/``podman``/``skopeo
  login`` commands. The provider's own tokens are never shown or stored.

The registry's host name cannot be known here (the registry is another server that merely
points its realm at regauth), so the commands say ``<registry>`` unless the login link
carried ``?registry=HOST``.

Every failure renders an error page with a fitting status (400 for a missing, altered or
expired login cookie, a wrong ``state`` or a replayed code; 401 for an ID token that fails
verification; 403 for a user who may not log in; 404 unknown provider; 409 a local user of the
same name; 502 a provider that is down or answers nonsense; 503 the database) and logs the
reason; nothing is created. Pages are ``no-store`` and escape every value.
"""

from __future__ import annotations

import datetime
import hmac
import html
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import parse_qsl, quote, urlsplit

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
    MAX_AGE,
    InvalidLoginState,
    LoginState,
    LoginStateCodec,
    code_challenge,
    derive_key,
)
from regauth.oidc.presets import ProviderConfigError, ProviderSettings, resolve_provider
from regauth.oidc.provider import IdentityProvider
from regauth.oidc.users import provision_user
from regauth.protocol.hostname import registry_host
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver
from regauth.web.responses import Receive, Scope, Send, send_bytes

__all__ = ["COOKIE_NAME", "LoginApp", "create_login_app"]

log = structlog.get_logger("regauth.login")

COOKIE_NAME = "regauth_login"
_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        b"form-action 'none'; base-uri 'none'",
    ),
]
_PROVIDER_ERRORS_DENIED = {"access_denied", "login_required", "consent_required"}


# ---------------------------------------------------------------------- pages


class Markup(str):
    """HTML that is already escaped (built from escaped parts)."""

    __slots__ = ()


@cache
def _template(name: str) -> string.Template:
    source = resources.files("regauth.web") / "templates" / "login" / f"{name}.html"
    return string.Template(source.read_text(encoding="utf-8"))


def render(name: str, **values: str | Markup) -> Markup:
    """Fill a template; every value that is not :class:`Markup` is HTML-escaped."""
    escaped = {
        k: v if isinstance(v, Markup) else html.escape(v, quote=True) for k, v in values.items()
    }
    return Markup(_template(name).substitute(escaped))


def page(title: str, content: Markup) -> bytes:
    return render("layout", title=title, content=content).encode("utf-8")


@dataclass
class LoginFailure(Exception):
    """A failed login: ``status`` and ``message`` for the person, ``reason`` for the log."""

    status: int
    title: str
    message: str
    reason: str


# ---------------------------------------------------------------------- the app


class LoginApp:
    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Callable[[], float] = time.time,
        http_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        config = runtime.config
        self._runtime = runtime
        self._accounts = runtime.accounts
        self._clock = clock
        self._http_factory = http_factory or (
            lambda: httpx.AsyncClient(headers={"user-agent": "regauth"})
        )
        self._codec = LoginStateCodec(derive_key(runtime.signing_key.private_key), clock=clock)
        self._base_url = config.server.base_url()
        self._route_prefix = config.server.path_prefix + "/login"
        #: the path browsers see (public_url may add a path in front of path_prefix)
        self._public_path = urlsplit(self._base_url).path + "/login"
        self._secure = self._base_url.startswith("https://")
        self._addresses = ClientAddressResolver(
            config.server.proxy_headers, config.server.trusted_proxies
        )
        self._providers: dict[str, IdentityProvider] = {}
        self._broken: dict[str, str] = {}
        for entry in config.oidc.providers:
            try:
                self._providers[entry.name] = build_provider(resolve_provider(entry), clock=clock)
            except ProviderConfigError as exc:
                self._broken[entry.name] = str(exc)
                log.error("login provider misconfigured", provider=entry.name, error=str(exc))

    def redirect_uri(self, name: str) -> str:
        return f"{self._base_url}/login/{name}/callback"

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        rest = path[len(self._route_prefix) :].strip("/")
        parts = rest.split("/") if rest else []
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            # HTTP/2 may split the Cookie header; join the parts (RFC 9113 section 8.2.3)
            headers[name] = (
                f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
            )
        query = _query(scope.get("query_string", b""))
        if scope["method"] not in ("GET", "HEAD"):
            await self._send_error(
                send,
                LoginFailure(405, "Method not allowed", "Use GET.", "method not allowed"),
                extra=[(b"allow", b"GET, HEAD")],
            )
            return
        if not parts:
            await self._list(send, query)
        elif len(parts) == 1:
            await self._start(send, parts[0], query, headers, scope)
        elif len(parts) == 2 and parts[1] == "callback":
            await self._callback(send, parts[0], query, headers, scope)
        else:
            await self._send_error(
                send, LoginFailure(404, "Not found", "There is no such page.", "no such page")
            )

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        await send_bytes(send, status, body, [*_HEADERS, *(extra or [])])

    async def _send_error(
        self,
        send: Send,
        failure: LoginFailure,
        name: str | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        retry = (
            f"{self._public_path}/{quote(name)}" if name in self._providers else self._public_path
        )
        body = page(
            failure.title,
            render("error", title=failure.title, message=failure.message, retry=retry),
        )
        await self._send(send, failure.status, body, extra)

    def _cookie(self, value: str, max_age: int) -> tuple[bytes, bytes]:
        parts = [
            f"{COOKIE_NAME}={value}",
            f"Path={self._public_path}",
            f"Max-Age={max_age}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self._secure:
            parts.append("Secure")
        return (b"set-cookie", "; ".join(parts).encode("latin-1"))

    def _client(self, scope: Scope, headers: Mapping[str, str]) -> str | None:
        peer = scope.get("client")
        address = self._addresses.resolve(peer[0] if peer else None, headers)
        return str(address) if address is not None else None

    @staticmethod
    def _log_failure(name: str, failure: LoginFailure, client: str | None) -> None:
        level = log.error if failure.status >= 500 else log.warning
        level(
            "login failed",
            provider=name[:40],
            status=failure.status,
            reason=failure.reason,
            client=client,
        )

    # ------------------------------------------------------------------ /login

    async def _list(self, send: Send, query: Mapping[str, str]) -> None:
        registry = registry_host(query.get("registry"))
        suffix = f"?registry={quote(registry, safe=':')}" if registry else ""
        items = [
            render(
                "provider_item",
                href=f"{self._public_path}/{quote(name)}{suffix}",
                label=f"Log in with {provider.settings.display_name}",
            )
            for name, provider in self._providers.items()
        ]
        if items:
            content = render("providers", items=Markup("\n".join(items)))
        else:
            content = render("no_providers")
        await self._send(send, 200, page("Log in", content))

    # ------------------------------------------------------------------ /login/NAME

    def _provider(self, name: str) -> IdentityProvider:
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

    async def _start(
        self,
        send: Send,
        name: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        scope: Scope,
    ) -> None:
        client = self._client(scope, headers)
        try:
            provider = self._provider(name)
            state = LoginState.new(name, self._clock(), registry_host(query.get("registry")))
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
        except LoginFailure as failure:
            self._log_failure(name, failure, client)
            await self._send_error(send, failure, name)
            return
        log.info("login started", provider=name, client=client)
        cookie = self._cookie(self._codec.encode(state), MAX_AGE)
        body = page("Redirecting", Markup(f'<p><a href="{html.escape(url)}">Continue</a></p>'))
        await self._send(send, 302, body, [(b"location", url.encode("latin-1")), cookie])

    # ------------------------------------------------------------------ callback

    async def _callback(
        self,
        send: Send,
        name: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        scope: Scope,
    ) -> None:
        client = self._client(scope, headers)
        clear = [self._cookie("", 0)]  # one use only, whatever happens
        try:
            provider = self._provider(name)
            state = self._check_state(name, query, headers)
            identity = await self._complete(provider, state, query)
            created = await self._provision(provider.settings, identity)
        except LoginFailure as failure:
            self._log_failure(name, failure, client)
            await self._send_error(send, failure, name, clear)
            return
        log.info(
            "login succeeded",
            provider=name,
            user=identity.username,
            groups=list(identity.groups),
            token_id=created.view.id,
            client=client,
        )
        body = self._token_page(provider.settings, identity, created, state.registry)
        await self._send(send, 200, body, clear)

    def _check_state(
        self, name: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> LoginState:
        cookie = _cookies(headers.get("cookie", "")).get(COOKIE_NAME)
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

    async def _complete(
        self, provider: IdentityProvider, state: LoginState, query: Mapping[str, str]
    ) -> ExternalIdentity:
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

    async def _provision(
        self, settings: ProviderSettings, identity: ExternalIdentity
    ) -> Created[TokenView]:
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        try:
            return await self._accounts.run(self._create, settings, identity, now)
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

    def _token_page(
        self,
        settings: ProviderSettings,
        identity: ExternalIdentity,
        created: Created[TokenView],
        registry: str | None,
    ) -> bytes:
        expires = created.view.expires_at
        note = Markup("")
        if registry is None:
            note = render("registry_note", login_url=f"{self._base_url}/login")
        content = render(
            "token",
            username=identity.username,
            token=created.secret,
            token_id=str(created.view.id),
            expires=f"{expires:%Y-%m-%d %H:%M} UTC" if expires is not None else "revoked",
            registry=registry or "<registry>",
            registry_note=note,
            provider=settings.display_name,
            groups=", ".join(identity.groups) or "none",
        )
        return page("Logged in", content)


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


def _query(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return {}
    result: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        result.setdefault(key, value)  # the first of repeated parameters
    return result


def _cookies(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key not in found:
            found[key] = value
    return found


def create_login_app(
    runtime: Runtime,
    *,
    clock: Callable[[], float] = time.time,
    http_factory: Callable[[], httpx.AsyncClient] | None = None,
) -> LoginApp:
    return LoginApp(runtime, clock=clock, http_factory=http_factory)
