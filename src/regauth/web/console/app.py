"""The console as an ASGI app: its routes, its static files, and errors as pages.

Each area of the console is a module of :mod:`regauth.web.console.pages` with a
``routes(console)`` function; :data:`PAGE_MODULES` lists them. Every answer gets the security
headers of :mod:`regauth.web.console.security` (static files a short cache instead of
``no-store``); a path no page claims is an HTML 404, a page raising :class:`PageError` is
that status with its message, and a page that needs a signed-in person sends others to
``/login?next=...``.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import quote

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from regauth.runtime import Runtime
from regauth.web.console.context import Console, PageError, SignInRequired, Viewer
from regauth.web.console.security import PAGE_HEADERS
from regauth.web.responses import Receive, Scope, Send

__all__ = ["PAGE_MODULES", "ConsoleApp", "create_console_app"]

log = structlog.get_logger("regauth.console")

#: the console's areas, each a module with ``routes(console)``
PAGE_MODULES = (
    "signin",
    "device",
    "device_api",
    "connect",
    "tokens",
    "sessions",
    "access",
    "repositories",
    "admin_users",
    "admin_groups",
    "admin_grants",
    "admin_robots",
    "admin_tokens",
    "admin_lockouts",
    "admin_audit",
    "admin_activity",
    "admin_policy",
    "admin_settings",
)

_STATIC_CACHE = b"public, max-age=300"


class ConsoleApp:
    def __init__(self, runtime: Runtime) -> None:
        self.console = Console(runtime)
        routes: list[BaseRoute] = []
        for name in PAGE_MODULES:
            module = importlib.import_module(f"regauth.web.console.pages.{name}")
            routes.extend(module.routes(self.console))
        static_dir = str(resources.files("regauth.web.console") / "static")
        routes.append(Mount(self.console.route("/static"), app=StaticFiles(directory=static_dir)))
        self._app = Starlette(
            routes=routes,
            exception_handlers={
                PageError: self._page_error,
                SignInRequired: self._sign_in,
                HTTPException: self._http_error,
                Exception: self._unexpected,
            },
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        static = scope["path"].startswith(self.console.route("/static/"))

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                names = {name.lower() for name, _ in raw}
                for name, value in PAGE_HEADERS.items():
                    key = name.encode()
                    if key in names:
                        continue
                    if static and name in ("cache-control", "pragma"):
                        continue
                    raw.append((key, value.encode()))
                if static and b"cache-control" not in names:
                    raw.append((b"cache-control", _STATIC_CACHE))
                message = {**message, "headers": raw}
            await send(message)

        await self._app(scope, receive, send_with_headers)

    # ------------------------------------------------------------------ errors as pages

    async def _page_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        viewer = await self._viewer_or_none(request)
        return self.console.render(
            request,
            "error.html",
            viewer=viewer,
            status=exc.status,
            title=exc.title,
            message=exc.message,
        )

    async def _sign_in(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return self.console.redirect_to(
            self.console.path("/login") + "?next=" + quote(exc.next_path, safe="/")
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and "text/html" not in request.headers.get("accept", ""):
            # a client that is not a browser (curl, a registry client) gets the JSON it parses
            error = {"code": "NOT_FOUND", "message": f"no such resource: {request.url.path[:200]}"}
            return JSONResponse({"errors": [error]}, status_code=404)
        messages = {
            404: "There is no such page.",
            405: "This page does not take that method.",
        }
        viewer = await self._viewer_or_none(request)
        headers = dict(exc.headers or {})
        return self.console.render(
            request,
            "error.html",
            viewer=viewer,
            status=exc.status_code,
            headers=headers,
            title={404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error"),
            message=messages.get(exc.status_code, str(exc.detail)[:200]),
        )

    async def _unexpected(self, request: Request, _exc: Exception) -> Response:
        log.exception("console page failed", path=request.url.path[:200])
        return Response(
            "Something went wrong on our side; the administrators can find it in the log.",
            status_code=500,
            media_type="text/plain",
        )

    async def _viewer_or_none(self, request: Request) -> Viewer | None:
        try:
            return await self.console.viewer(request)
        except Exception:  # an error page must never fail on the account lookup
            return None


def create_console_app(runtime: Runtime) -> ConsoleApp:
    return ConsoleApp(runtime)
