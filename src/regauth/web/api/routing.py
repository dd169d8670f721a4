"""What every resource router of the admin API is built from.

:func:`resource_router` gives a router whose routes all need an authenticated administrator
(:func:`admin_context`) and document the common errors; a route takes the :data:`Context`
(the runtime, the administrator, the clock), calls one account operation on the database threads
and answers with :func:`json_response` or :func:`no_content`. The response-document helpers
(:func:`ok`, :data:`NOT_FOUND`, :data:`CONFLICT`) and the path and query parameter types live
here too, so every router describes itself the same way in the OpenAPI document.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from regauth.admin_auth import AdminPrincipal
from regauth.clock import Clock
from regauth.runtime import Runtime
from regauth.web.api.bodies import ErrorBody
from regauth.web.api.gate import PRINCIPAL_KEY, ApiError

__all__ = [
    "CONFLICT",
    "NOT_FOUND",
    "AdminContext",
    "ApiSettings",
    "Context",
    "GrantId",
    "GroupParam",
    "RobotParam",
    "TokenId",
    "UserFilter",
    "UsernameParam",
    "admin_context",
    "json_response",
    "no_content",
    "ok",
    "resource_router",
]

log = structlog.get_logger("regauth.admin")

T = TypeVar("T")

_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ApiSettings:
    """What the app holds for its routes (``app.state.regauth``)."""

    runtime: Runtime
    clock: Clock
    #: where the routes are: ``{path_prefix}/api/v1``
    base: str


@dataclass(frozen=True)
class AdminContext:
    """What a route needs: the runtime, the administrator, and the clock."""

    runtime: Runtime
    admin: AdminPrincipal
    clock: Clock

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Blocking work (the account service, SQLAlchemy) on the database's threads."""
        return await self.runtime.database.run(functools.partial(function, *args, **kwargs))

    async def changed(self) -> None:
        """Apply our own change in this process now; other processes follow within a second."""
        try:
            await self.runtime.watcher.poll_once()
        except Exception as exc:  # the change is committed; the watcher will catch up
            log.warning("applying a change locally failed", error_type=type(exc).__name__)


def admin_context(request: Request) -> AdminContext:
    """The dependency of every route: the administrator :class:`AdminGate` let in."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, AdminPrincipal):  # AdminGate sets it; never reached otherwise
        raise ApiError(401, "authentication required")
    settings = cast(ApiSettings, request.app.state.regauth)
    return AdminContext(settings.runtime, principal, settings.clock)


Context = Annotated[AdminContext, Depends(admin_context)]
GrantId = Annotated[int, Path(ge=1, le=_MAX_ID)]
TokenId = Annotated[int, Path(ge=1, le=_MAX_ID)]
UsernameParam = Annotated[str, Path(max_length=128)]
GroupParam = Annotated[str, Path(max_length=128, description="may contain '/'")]
RobotParam = Annotated[str, Path(max_length=64)]
UserFilter = Annotated[str | None, Query(max_length=128)]


def json_response(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


# ------------------------------------------------------------ documented responses

_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Invalid input"),
        (401, "Missing or invalid credentials"),
        (403, "Not an administrator, or a limited token"),
    )
}
_COMMON_ERRORS[429] = {
    "model": ErrorBody,
    "description": "Too many invalid credentials from this address lately (guessing limits)",
    "headers": {
        "Retry-After": {
            "description": "Seconds until this address may try again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not found"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody, "description": "Conflict"}}


def ok(model: Any, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The documented success response: ``model`` as 200 OK or 201 Created."""
    return {status: {"model": model, "description": "OK" if status == 200 else "Created"}}


def resource_router() -> APIRouter:
    """A router whose every route needs an administrator and documents 400, 401 and 403."""
    return APIRouter(dependencies=[Depends(admin_context)], responses=_COMMON_ERRORS)
