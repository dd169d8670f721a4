"""Authentication and error handling around every admin API request.

:class:`AdminGate` wraps the FastAPI app and, for every path but the public ones (the OpenAPI
document and its docs page),

* authenticates an administrator's personal access token (:mod:`regauth.admin_auth`), so unknown
  paths are 401, not 404, to strangers, and leaves the principal in the ASGI scope under
  :data:`PRINCIPAL_KEY`;
* buffers the body up to :data:`MAX_BODY` bytes (413 beyond);
* turns anything unexpected into a JSON 500 without a traceback;
* writes one ``admin`` log event per request: who, what, the status, never a secret.

Inside the app, :func:`install_error_handlers` turns every refusal into the one error shape
``{"error": "<code>", "message": "<sentence>"}``: 400 for any bad input (validation, malformed
JSON; never FastAPI's 422), 404 and 405 (with every allowed method, not only the first route's),
409, and 503 when the database is unavailable. Routes raise :class:`ApiError` or an
:class:`regauth.accounts.AccountError`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regauth.accounts import AccountError
from regauth.admin_auth import AdminAuthError, parse_admin_authorization, verify_admin_token
from regauth.authn.guessing import IpAddress, LimitState, Throttled
from regauth.clock import Clock
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver

__all__ = [
    "MAX_BODY",
    "PRINCIPAL_KEY",
    "AdminGate",
    "ApiError",
    "RoutePrecedence",
    "RouteTable",
    "error_response",
    "install_error_handlers",
    "validation_message",
]

log = structlog.get_logger("regauth.admin")

#: the largest request body accepted (an import of ten thousand users fits)
MAX_BODY = 2 * 1024 * 1024
#: where :class:`AdminGate` leaves the authenticated :class:`regauth.admin_auth.AdminPrincipal`
PRINCIPAL_KEY = "regauth.admin"
_ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    """The API's one error shape; ``code`` defaults to the status's name."""
    body = {"error": code or _ERROR_CODES.get(status, "error"), "message": message}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class ApiError(Exception):
    """A refusal a route raises: its status, its sentence and, if not the status's, its code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# ------------------------------------------------------------------------------------- errors


def validation_message(request: Request, errors: Sequence[Any]) -> tuple[str, str]:
    """The error code and one sentence for FastAPI's validation errors (at most five named)."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return "invalid_json", "the request body is not valid JSON"
    parts = []
    for error in errors[:5]:
        loc = tuple(error.get("loc", ()))
        where = ".".join(str(part) for part in loc) or "request"
        kind = error.get("type", "")
        if loc == ("body",) and kind == "missing":
            message = "a JSON object is required"
        elif loc == ("body",) and kind in ("model_type", "model_attributes_type"):
            content_type = request.headers.get("content-type", "")
            if not content_type.split(";")[0].strip().lower().endswith("json"):
                return "invalid_request", "the request body must be JSON (application/json)"
            message = "expected a JSON object"
        elif kind == "missing":
            message = "field required"
        else:
            # pydantic's sentences name the constraint and never echo the value
            text = str(error.get("msg", "invalid value"))
            message = text[:1].lower() + text[1:]
        parts.append(f"{where}: {message}")
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "invalid_request", "; ".join(parts)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    code, message = validation_message(request, errors)
    return error_response(400, message, code=code)


class RouteTable:
    """Which route a path belongs to, as OpenAPI matches paths: concrete before templated.

    Of the route templates matching a path, the one with the most literal characters wins
    (``/users/import`` over ``/users/{username}``, ``/groups/{name}/members/{username}`` over
    ``/groups/{name}``), whatever the method; its methods are the path's ``Allow``.
    """

    def __init__(self, base: str, routes: Sequence[BaseRoute]) -> None:
        self._base = base
        templates: dict[str, tuple[Any, set[str], int]] = {}
        for route in routes:
            if isinstance(route, APIRoute):
                literal = len(re.sub(r"\{[^}]*\}", "", route.path))
                entry = templates.setdefault(route.path, (route.path_regex, set(), literal))
                entry[1].update(route.methods or ())
        self._templates = sorted(templates.values(), key=lambda entry: -entry[2])

    def allowed_methods(self, path: str) -> set[str] | None:
        """The methods the path's route takes, or None when no route matches it."""
        if not path.startswith(self._base):
            return None
        relative = path[len(self._base) :]
        for regex, methods, _ in self._templates:
            if regex.match(relative):
                return methods
        return None


class RoutePrecedence:
    """Answer 405 (with ``Allow``) for a method the path's own route does not take, instead of
    letting a less specific template serve it (``GET /users/import`` is not user ``import``)."""

    def __init__(self, app: ASGIApp, *, table: RouteTable) -> None:
        self.app = app
        self._table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self._table.allowed_methods(str(scope["path"]))
            if allowed is not None and scope["method"] not in allowed:
                path = str(scope["path"])[:200]
                methods = ", ".join(sorted(allowed))
                await _send_error(
                    send,
                    405,
                    f"method {str(scope['method'])[:20]} is not allowed on {path}; use {methods}",
                    {"allow": methods},
                )
                return
        await self.app(scope, receive, send)


class _HttpErrorHandler:
    """404 and 405 as the API's errors; a 405 names every method the path's route takes."""

    def __init__(self, table: RouteTable) -> None:
        self._table = table

    def allowed_methods(self, request: Request) -> str:
        return ", ".join(sorted(self._table.allowed_methods(str(request.scope["path"])) or ()))

    async def __call__(self, request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):  # registered for this type only
            raise exc
        path = request.url.path[:200]
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            return error_response(404, f"no such API route: {request.method} {path}")
        if exc.status_code == 405:
            allowed = self.allowed_methods(request) or headers.get("allow") or ""
            message = f"method {request.method} is not allowed on {path}"
            if allowed:
                message += f"; use {allowed}"
            return error_response(405, message, headers={"allow": allowed} if allowed else None)
        detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
        return error_response(exc.status_code, detail)


async def _on_account_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AccountError):  # registered for this type only
        raise exc
    return error_response(exc.status, exc.message)


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for this type only
        raise exc
    return error_response(exc.status, exc.message, code=exc.code)


async def _on_database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("admin api: database unavailable", error_type=type(exc).__name__)
    return error_response(503, "the database is unavailable or busy; try again")


async def _on_data_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(400, "the database refused a value in the request")


async def _on_integrity_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(
        409, "the change conflicts with another change made at the same time; retry"
    )


def install_error_handlers(app: FastAPI, *, base: str, routes: Sequence[BaseRoute]) -> None:
    """Render every refusal inside ``app`` as the API's JSON error.

    ``routes`` are the API's routes, their paths relative to ``base`` (``{path_prefix}/api/v1``).
    """
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _HttpErrorHandler(RouteTable(base, routes)))
    app.add_exception_handler(AccountError, _on_account_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)


# --------------------------------------------------------------------------------------- gate


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_error(
    send: Send, status: int, message: str, headers: Mapping[str, str] | None = None
) -> None:
    response = error_response(status, message, headers)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


_NO_STORE = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


class AdminGate:
    """Authenticate, bound the body, log once, and never let an exception out as a traceback."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        clock: Clock,
        public_paths: frozenset[str],
        max_body: int = MAX_BODY,
    ) -> None:
        self.app = app
        self._runtime = runtime
        self._clock = clock
        self._public = public_paths
        self._max_body = max_body
        server = runtime.config.server
        self._addresses = ClientAddressResolver(server.proxy_headers, server.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": None, "admin": None, "reason": None}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), *_NO_STORE]
            await send(message)

        try:
            await self._handle(scope, receive, send_and_note, outcome)
        except Exception as exc:
            outcome["reason"] = f"internal error: {type(exc).__name__}"
            log.error(
                "admin api request failed",
                error_type=type(exc).__name__,
                path=str(scope.get("path", ""))[:200],
            )
            if outcome["status"] is None:
                await _send_error(send_and_note, 500, "internal error; see the server log")
        finally:
            self._log(scope, outcome, started)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, outcome: dict[str, Any]
    ) -> None:
        if scope["path"] in self._public and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        # invalid tokens slow the address that sends them, as on the token endpoint (a token
        # cannot be guessed, so they never count against an account)
        limiter = self._runtime.authenticators.limiter
        limits: LimitState | None = None
        try:
            credentials = parse_admin_authorization(_header(scope, b"authorization"))
            if limiter is not None:
                limits = await limiter.check("", self._address(scope), high_entropy=True)
            principal = await self._runtime.database.run(
                verify_admin_token, self._runtime.database, credentials, self._clock()
            )
        except Throttled as exc:
            outcome["reason"] = exc.log_reason
            retry = {"retry-after": str(exc.retry_after)}
            await _send_error(send, 429, "too many invalid credentials: try again later", retry)
            return
        except AdminAuthError as exc:
            outcome["reason"] = exc.reason
            if limiter is not None and limits is not None and exc.status == 401:
                with contextlib.suppress(Exception):  # counting must not turn 401 into 500
                    await limiter.failed(limits)
            headers = {}
            if exc.status == 401:
                headers["www-authenticate"] = 'Bearer realm="regauth"'
                if exc.reason != "no credentials":
                    headers["www-authenticate"] += ', error="invalid_token"'
            await _send_error(send, exc.status, exc.message, headers)
            return
        except (OperationalError, PoolTimeout) as exc:
            outcome["reason"] = f"database unavailable: {type(exc).__name__}"
            await _send_error(send, 503, "the database is unavailable or busy; try again")
            return
        outcome["admin"] = principal.username
        self._runtime.writer.touch("token", principal.token_id)
        body = await self._read_body(scope, receive)
        if body is None:
            outcome["reason"] = "body too large"
            await _send_error(send, 413, f"the request body is larger than {self._max_body} bytes")
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self._max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app will see an empty body
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _address(self, scope: Scope) -> IpAddress | None:
        client = scope.get("client")
        headers = {
            bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
            for k, v in scope.get("headers", ())
            if k.lower() != b"authorization"
        }
        return self._addresses.resolve(client[0] if client else None, headers)

    def _log(self, scope: Scope, outcome: Mapping[str, Any], started: float) -> None:
        address = self._address(scope)
        log.info(
            "admin",
            method=scope.get("method"),
            path=str(scope.get("path", ""))[:200],
            status=outcome["status"],
            admin=outcome["admin"],
            reason=outcome["reason"],
            client_ip=str(address) if address is not None else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
