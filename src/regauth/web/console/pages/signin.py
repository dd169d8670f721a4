"""Signing in and out: ``GET``/``POST /login``, ``POST /logout``, and the home page ``/``.

The password form uses the same authenticator chain as the token endpoint (static, htpasswd,
database and LDAP users), guessing limits included; personal access tokens, robot secrets and
identity-provider tokens are refused here (they are for clients, not people). The sign-in
form's CSRF token is bound to a random pre-session cookie, so a forged cross-site sign-in
(login CSRF) is refused too.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import SessionStart
from regauth.authn.chain import AuthenticationFailed, is_high_entropy, is_token_shaped
from regauth.oidc.presets import ProviderConfigError, resolve_provider
from regauth.protocol.errors import BackendUnavailable, TooManyRequests
from regauth.protocol.hostname import registry_host
from regauth.protocol.secret import Secret
from regauth.web.console.context import Console, PageError, fingerprint
from regauth.web.console.forms import FormTooLarge, read_form
from regauth.web.console.security import cookie_header
from regauth.web.console.signing_in import clear_session_cookie, open_session, safe_next

__all__ = ["routes"]

log = structlog.get_logger("regauth.console")

MAX_USERNAME = 256
MAX_PASSWORD = 1024
#: the password field's name (errors are keyed by field)
PASSWORD_FIELD = "password"  # noqa: S105 - a form field's name, not a password


def _providers(console: Console, query: str) -> list[tuple[str, str]]:
    links = []
    for entry in console.config.oidc.providers:
        try:
            label = resolve_provider(entry).display_name
        except ProviderConfigError:
            continue
        links.append((f"{console.base}/login/{quote(entry.name)}?{query}", label))
    return links


def routes(console: Console) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        return console.render(request, "home.html", viewer=viewer, active="home")

    async def login_page(request: Request) -> Response:
        viewer = await console.viewer(request)
        target = safe_next(console, request.query_params.get("next"))
        if viewer is not None:
            return console.redirect_to(target)
        return _form(request, target)

    def _form(
        request: Request,
        target: str,
        *,
        status: int = 200,
        username: str = "",
        errors: dict[str, str] | None = None,
        extra_headers: dict[str, str] | None = None,
        presession: str | None = None,
    ) -> Response:
        presession = presession or request.cookies.get(console.cookies.presession)
        headers = dict(extra_headers or {})
        cookie = None
        if not presession or len(presession) > 64:
            presession = console.csrf.new_presession()
            cookie = cookie_header(
                console.cookies.presession, presession, secure=console.cookies.secure, max_age=3600
            )
        registry = registry_host(request.query_params.get("registry"))
        if registry:  # the login link a registry's users were given: the token pages
            sso = _providers(console, f"registry={quote(registry, safe=':')}")
            sso = [(href, f"Log in with {label}") for href, label in sso]
        else:
            sso = [
                (href, f"Sign in with {label}")
                for href, label in _providers(console, f"console=1&next={quote(target)}")
            ]
        response = console.render(
            request,
            "login.html",
            viewer=None,
            status=status,
            headers=headers,
            login_csrf=console.csrf.for_presession(presession),
            next_path=target,
            username=username,
            errors=errors or {},
            providers=sso,
        )
        if cookie is not None:
            response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        return response

    async def login_submit(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormTooLarge:
            raise PageError(413, "The form is too large.") from None
        presession = request.cookies.get(console.cookies.presession)
        if not console.csrf.check_presession(presession, form.get("csrf") or None):
            raise PageError(
                403,
                "The sign-in form's security token is missing or out of date (are cookies "
                "allowed?). Reload the page and try again.",
            )
        target = safe_next(console, form.get("next"))
        username = form.text("username")
        password = form.get(PASSWORD_FIELD)
        errors: dict[str, str] = {}
        if not username:
            errors["username"] = "Enter your user name."
        elif len(username) > MAX_USERNAME:
            errors["username"] = f"At most {MAX_USERNAME} characters."
        if not password:
            errors[PASSWORD_FIELD] = "Enter your password."
        elif len(password) > MAX_PASSWORD:
            errors[PASSWORD_FIELD] = f"At most {MAX_PASSWORD} characters."
        if errors:
            return _form(request, target, status=400, username=username, errors=errors)
        secret = Secret(password)
        address_text = console.client_address(request)
        if is_token_shaped(username, secret) or is_high_entropy(username, secret):
            log.warning("console sign-in refused", reason="token as password", client=address_text)
            errors[PASSWORD_FIELD] = (
                "Personal access tokens, robot secrets and identity-provider tokens are for "
                "registry clients; sign in here with your password."
            )
            return _form(request, target, status=400, username=username, errors=errors)
        peer = request.client.host if request.client else None
        address = console.addresses.resolve(peer, request.headers)
        chain = console.runtime.authenticators
        try:
            identity = await chain.authenticate(username, secret, address)
        except AuthenticationFailed as failure:
            log.warning(
                "console sign-in failed",
                user=username[:64],
                reason=failure.reason,
                client=address_text,
            )
            errors[PASSWORD_FIELD] = "Wrong user name or password."
            return _form(request, target, status=401, username=username, errors=errors)
        except TooManyRequests as refused:
            log.warning("console sign-in refused", user=username[:64], client=address_text)
            wait = refused.retry_after or 1
            errors[PASSWORD_FIELD] = (
                f"Too many failed sign-ins. Try again in {wait} second{'s' if wait != 1 else ''}."
            )
            return _form(
                request,
                target,
                status=429,
                username=username,
                errors=errors,
                extra_headers={"retry-after": str(wait)},
            )
        except BackendUnavailable as failure:
            log.error("console sign-in unavailable", reason=failure.log_reason or failure.message)
            errors[PASSWORD_FIELD] = "Signing in is unavailable right now; try again shortly."
            headers = {"retry-after": str(failure.retry_after or 5)}
            return _form(request, target, status=503, errors=errors, extra_headers=headers)
        if identity.credential != "password" or identity.anonymous:
            errors[PASSWORD_FIELD] = "Sign in here with your password."
            return _form(request, target, status=400, username=username, errors=errors)
        print_hash = None
        if identity.user_id is None:
            current = console.current_password_hash(identity.method, identity.subject)
            print_hash = fingerprint(current) if current is not None else None
            if print_hash is None:  # an account the console cannot follow: no session
                errors[PASSWORD_FIELD] = "This account cannot sign in to the console."
                return _form(request, target, status=403, username=username, errors=errors)
        start = SessionStart(
            username=identity.subject,
            method=identity.method,
            user_id=identity.user_id,
            fingerprint=print_hash,
            labels={k: list(v) for k, v in identity.labels.items() if k != "groups"},
            groups=identity.groups,
            user_agent=request.headers.get("user-agent"),
            address=address_text,
        )
        cookie = await open_session(console, start)
        log.info(
            "console sign-in", user=identity.subject, method=identity.method, client=address_text
        )
        response = console.redirect_to(target)
        response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        clear = cookie_header(
            console.cookies.presession, "", secure=console.cookies.secure, max_age=0
        )
        response.raw_headers.append((b"set-cookie", clear.encode("latin-1")))
        return response

    async def logout(request: Request) -> Response:
        viewer = await console.viewer(request)
        if viewer is not None:
            await console.form(request, viewer)
            secret = request.cookies.get(console.cookies.session, "")
            await console.run(console.accounts.end_console_session_by_secret, secret)
            log.info("console sign-out", user=viewer.username)
        response = console.redirect("/login", done="signed-out")
        response.raw_headers.append((b"set-cookie", clear_session_cookie(console).encode()))
        return response

    return [
        Route(console.route("/"), home, methods=["GET", "HEAD"]),
        Route(console.route("/login"), login_page, methods=["GET", "HEAD"]),
        Route(console.route("/login"), login_submit, methods=["POST"]),
        Route(console.route("/logout"), logout, methods=["POST"]),
    ]
