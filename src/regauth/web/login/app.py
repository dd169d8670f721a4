"""The ``/login`` pages as an ASGI app: routes, cookies, logs, and the pages sent back.

:class:`LoginApp` answers ``GET``/``HEAD`` only. It hands the identity work to
:class:`regauth.web.login.flow.LoginFlow`, keeps the login state in the ``regauth_login``
cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind HTTPS, scoped to the login path and
cleared by the callback whatever happens), logs each start, success and failure with the
client's address, and renders every answer with :mod:`regauth.web.login.pages`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import structlog

from regauth.accounts import SessionStart
from regauth.oidc.claims import ExternalIdentity
from regauth.oidc.login_state import MAX_AGE
from regauth.protocol.hostname import registry_host
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver
from regauth.web.login.flow import LoginFailure, LoginFlow
from regauth.web.login.pages import (
    HTML_HEADERS,
    error_page,
    providers_page,
    redirect_page,
    token_page,
)
from regauth.web.responses import Receive, Scope, Send, send_bytes

if TYPE_CHECKING:
    from regauth.web.console.context import Console

__all__ = ["COOKIE_NAME", "LoginApp", "create_login_app"]

log = structlog.get_logger("regauth.login")

COOKIE_NAME = "regauth_login"


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
        self._console: Console | None = None
        self._flow = LoginFlow(
            runtime,
            clock=clock,
            http_factory=http_factory
            or (lambda: httpx.AsyncClient(headers={"user-agent": "regauth"})),
        )
        self._base_url = config.server.base_url()
        self._route_prefix = config.server.path_prefix + "/login"
        #: the path browsers see (public_url may add a path in front of path_prefix)
        self._public_path = urlsplit(self._base_url).path + "/login"
        self._secure = self._base_url.startswith("https://")
        self._addresses = ClientAddressResolver(
            config.server.proxy_headers, config.server.trusted_proxies
        )

    def redirect_uri(self, name: str) -> str:
        return self._flow.redirect_uri(name)

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
        await send_bytes(send, status, body, [*HTML_HEADERS, *(extra or [])])

    async def _send_error(
        self,
        send: Send,
        failure: LoginFailure,
        name: str | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        retry = self._public_path
        if name is not None and name in self._flow.providers:
            retry = f"{self._public_path}/{quote(name)}"
        body = error_page(failure.title, failure.message, retry)
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
        links = [
            (
                f"{self._public_path}/{quote(name)}{suffix}",
                f"Log in with {provider.settings.display_name}",
            )
            for name, provider in self._flow.providers.items()
        ]
        await self._send(send, 200, providers_page(links))

    # ------------------------------------------------------------------ /login/NAME

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
            state, url = await self._flow.begin(
                name,
                registry_host(query.get("registry")),
                console=query.get("console") == "1",
                next_path=query.get("next"),
            )
        except LoginFailure as failure:
            self._log_failure(name, failure, client)
            await self._send_error(send, failure, name)
            return
        log.info("login started", provider=name, client=client)
        cookie = self._cookie(self._flow.encode(state), MAX_AGE)
        body = redirect_page(url)
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
            provider = self._flow.provider(name)
            cookie = _cookies(headers.get("cookie", "")).get(COOKIE_NAME)
            state = self._flow.check_state(name, query, cookie)
            identity = await self._flow.complete(provider, state, query)
            if state.console:
                user_id = await self._flow.provision_user(provider.settings, identity)
            else:
                created = await self._flow.provision(provider.settings, identity)
        except LoginFailure as failure:
            self._log_failure(name, failure, client)
            await self._send_error(send, failure, name, clear)
            return
        if state.console:  # a console sign-in: a session, then the page the person wanted
            cookie, target = await self._console_session(
                provider.settings.source, identity, user_id, headers, client, state.next
            )
            log.info("console sign-in", provider=name, user=identity.username, client=client)
            location = [(b"location", target.encode("latin-1"))]
            extra = [*clear, (b"set-cookie", cookie.encode("latin-1")), *location]
            await self._send(send, 303, redirect_page(target), extra)
            return
        log.info(
            "login succeeded",
            provider=name,
            user=identity.username,
            groups=list(identity.groups),
            token_id=created.view.id,
            client=client,
        )
        body = token_page(
            identity,
            created,
            provider=provider.settings.display_name,
            registry=state.registry,
            login_url=f"{self._base_url}/login",
        )
        await self._send(send, 200, body, clear)

    async def _console_session(
        self,
        source: str,
        identity: ExternalIdentity,
        user_id: int,
        headers: Mapping[str, str],
        client: str | None,
        next_path: str | None,
    ) -> tuple[str, str]:
        """Start a console session for a single sign-on; its cookie and where to go next."""
        from regauth.web.console.context import Console
        from regauth.web.console.signing_in import open_session, safe_next

        if self._console is None:
            self._console = Console(self._runtime)
        start = SessionStart(
            username=identity.username,
            method=source,
            user_id=user_id,
            groups=tuple(identity.groups),
            user_agent=headers.get("user-agent"),
            address=client,
        )
        cookie = await open_session(self._console, start)
        return cookie, safe_next(self._console, next_path)


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
