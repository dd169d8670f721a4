"""What every console page uses: who is signed in, CSRF-checked forms, rendering, redirects.

:class:`Console` is built once per configuration. A page handler calls
:meth:`Console.require_viewer` (or :meth:`Console.require_admin`), reads a form with
:meth:`Console.form` (which refuses a missing or wrong CSRF token with 403 before anything is
read further), and answers with :meth:`Console.render` or :meth:`Console.redirect`. Errors are
raised as :class:`PageError` / :class:`SignInRequired` and turned into pages by the app.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from regauth.accounts import LiveSession
from regauth.authn.base import Identity, Kind
from regauth.authn.database import load_user_identity
from regauth.clock import utcnow
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver
from regauth.web.console.forms import FormTooLarge, SubmittedForm, read_form
from regauth.web.console.rendering import make_environment
from regauth.web.console.security import PAGE_HEADERS, CookieNames, CsrfTokens

__all__ = ["Console", "PageError", "SignInRequired", "Viewer", "fingerprint"]

P = ParamSpec("P")
T = TypeVar("T")

#: the short messages a redirect may ask the next page to show (``?done=KEY``)
NOTICES: dict[str, str] = {
    "signed-out": "You are signed out.",
    "token-revoked": "The token is revoked.",
    "session-ended": "The session is ended.",
    "sessions-ended": "Your other sessions are ended.",
    "refresh-revoked": "The refresh token is revoked.",
    "user-created": "The user is created.",
    "user-updated": "The user is updated.",
    "user-deleted": "The user is deleted.",
    "password-reset": "The password is changed; the user's sessions and refresh tokens ended.",
    "group-created": "The group is created.",
    "group-deleted": "The group is deleted.",
    "member-added": "The member is added.",
    "member-removed": "The member is removed.",
    "grant-added": "The grant is added.",
    "grant-removed": "The grant is removed.",
    "robot-revoked": "The robot is revoked.",
    "robot-deleted": "The robot is deleted.",
    "lockout-cleared": "The lockout is cleared.",
    "deleted": "Deleted.",
    "manifest-deleted": "The manifest is deleted, and every tag that named it.",
    # administration
    "user-disabled": "The user is disabled; their console sessions and refresh tokens ended.",
    "user-enabled": "The user is enabled.",
    "robot-created": "The robot is created.",
    "refresh-token-revoked": "The refresh token is revoked.",
    "lockout-none": "Nothing was counted for that account or address: nothing to clear.",
}


def fingerprint(password_hash: str) -> str:
    """What a session of an account without a row remembers of its password hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


class PageError(Exception):
    """An answer other than the page: 400, 403, 404, 409 ... with a message for the person."""

    def __init__(self, status: int, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or {
            400: "Bad request",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            409: "Conflict",
            413: "Too large",
            429: "Too many attempts",
        }.get(status, "Error")


class SignInRequired(Exception):
    """The page needs a signed-in person: the app redirects to ``/login?next=...``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of one request."""

    session: LiveSession
    identity: Identity
    csrf: str

    @property
    def username(self) -> str:
        return self.session.username

    @property
    def is_admin(self) -> bool:
        return self.identity.is_admin

    @property
    def has_row(self) -> bool:
        """A database user (local, LDAP, single sign-on): may hold personal access tokens."""
        return self.session.user_id is not None


class Console:
    def __init__(
        self, runtime: Runtime, *, clock: Callable[[], datetime.datetime] = utcnow
    ) -> None:
        config = runtime.config
        self.runtime = runtime
        self.config = config
        self.accounts = runtime.accounts
        self.clock = clock
        base_url = config.server.base_url()
        #: the path prefix routes are matched with
        self.route_prefix = config.server.path_prefix
        #: the path prefix browsers see (public_url may add a path in front of path_prefix)
        self.base = urlsplit(base_url).path.rstrip("/")
        self.base_url = base_url
        self.cookies = CookieNames(base_url.startswith("https://"))
        self.csrf = CsrfTokens(runtime.login_secret)
        self.addresses = ClientAddressResolver(
            config.server.proxy_headers, config.server.trusted_proxies
        )
        self.templates = make_environment(
            {"base": self.base, "notices": NOTICES, "registry_host": self.registry_host()}
        )

    # ------------------------------------------------------------------ paths

    def route(self, suffix: str) -> str:
        """A route pattern under ``server.path_prefix`` (``/`` for the console's home)."""
        return (self.route_prefix + suffix) if suffix != "/" else (self.route_prefix or "/")

    def path(self, suffix: str) -> str:
        """A link as the browser sees it."""
        return (self.base + suffix) if suffix != "/" else (self.base + "/")

    def registry_host(self) -> str:
        """``host[:port]`` people give ``docker login``: ``registry.public_url``, or a stand-in."""
        return self.config.registry.public_host() or "<registry>"

    def client_address(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        address = self.addresses.resolve(peer, request.headers)
        return str(address) if address is not None else None

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.accounts.run(function, *args, **kwargs)

    # ------------------------------------------------------------------ who is signed in

    async def viewer(self, request: Request) -> Viewer | None:
        if "viewer" in request.scope.get("state", {}):
            found: Viewer | None = request.scope["state"]["viewer"]
            return found
        viewer = await self._load_viewer(request)
        request.scope.setdefault("state", {})["viewer"] = viewer
        return viewer

    async def _load_viewer(self, request: Request) -> Viewer | None:
        secret = request.cookies.get(self.cookies.session)
        if not secret:
            return None
        session = await self.run(
            self.accounts.find_console_session,
            secret,
            idle_lifetime=self.config.console.idle_lifetime,
        )
        if session is None:
            return None
        identity = await self.run(self._identity, session)
        if identity is None:  # the account changed or went away: the session ends here
            await self.run(self.accounts.end_console_session, session.id)
            return None
        return Viewer(session, identity, self.csrf.for_session(session.token_hash))

    def _identity(self, session: LiveSession) -> Identity | None:
        labels: dict[str, tuple[str, ...]] = dict(session.labels)
        if session.user_id is not None:
            stored = load_user_identity(
                self.runtime.database, session.username, method=session.method
            )
            if stored is None:
                return None
            groups = tuple(dict.fromkeys((*stored.groups, *session.groups)))
            for key, values in stored.labels.items():
                labels[key] = tuple(dict.fromkeys((*labels.get(key, ()), *values)))
            labels["groups"] = groups
            return Identity(
                subject=session.username,
                method=session.method,
                labels=MappingProxyType(labels),
                kind=Kind.USER,
                groups=groups,
                is_admin=stored.is_admin,
                user_id=session.user_id,
            )
        current = self.current_password_hash(session.method, session.username)
        if current is None or session.fingerprint != fingerprint(current):
            return None
        static = self.config.users.get(session.username)
        if static is not None and session.method == "static":
            labels.update({k: tuple(v) for k, v in static.labels.items()})
        if session.groups:
            labels["groups"] = session.groups
        return Identity(
            subject=session.username,
            method=session.method,
            labels=MappingProxyType(labels),
            kind=Kind.USER,
            groups=session.groups,
        )

    def current_password_hash(self, method: str, username: str) -> str | None:
        for authenticator in self.runtime.authenticators.authenticators:
            if authenticator.name == method:
                lookup = getattr(authenticator, "password_hash_of", None)
                return lookup(username) if lookup is not None else None
        return None

    async def require_viewer(self, request: Request) -> Viewer:
        viewer = await self.viewer(request)
        if viewer is None:
            path = request.url.path
            if self.route_prefix and path.startswith(self.route_prefix):
                path = path[len(self.route_prefix) :]
            target = self.base + (path or "/")
            if request.url.query:
                target += "?" + request.url.query
            raise SignInRequired(target)
        return viewer

    async def require_admin(self, request: Request) -> Viewer:
        viewer = await self.require_viewer(request)
        if not viewer.is_admin:
            raise PageError(403, "This page is for regauth administrators.")
        return viewer

    # ------------------------------------------------------------------ forms

    async def form(self, request: Request, viewer: Viewer) -> SubmittedForm:
        """The submitted form of a signed-in person, after its CSRF token is checked."""
        try:
            form = await read_form(request)
        except FormTooLarge:
            raise PageError(413, "The form is too large.") from None
        if not self.csrf.check_session(viewer.session.token_hash, form.get("csrf") or None):
            raise PageError(
                403,
                "The form's security token is missing or out of date. Reload the page and "
                "try again.",
            )
        return form

    # ------------------------------------------------------------------ answers

    def render(
        self,
        request: Request,
        template: str,
        *,
        viewer: Viewer | None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        done = request.query_params.get("done", "")
        body = self.templates.get_template(template).render(
            viewer=viewer,
            csrf=viewer.csrf if viewer is not None else "",
            now=self.clock(),
            notice=NOTICES.get(done, ""),
            request_path=request.url.path,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})

    def redirect_to(self, path: str) -> Response:
        """303 See Other to a path already checked to be this console's."""
        return RedirectResponse(path, status_code=303, headers=PAGE_HEADERS)

    def redirect(self, suffix: str, *, done: str | None = None) -> Response:
        """303 See Other to a console page (after a POST), with an optional notice key."""
        target = self.path(suffix)
        if done is not None:
            target += ("&" if "?" in target else "?") + "done=" + quote(done)
        return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
