"""The admin REST API under ``{server.path_prefix}/api/v1``: users, groups, grants, robots, tokens.

A thin adapter: each route validates its JSON with a strict pydantic model (unknown fields are
errors), calls one :class:`regauth.accounts.AccountService` operation on the database threads and
returns the operation's view as JSON. Validation, cache invalidation and the change log stay in
the service, shared with the CLI.

Every request passes :class:`AdminGate` first, which

* authenticates an administrator's personal access token (:mod:`regauth.admin_auth`), for every
  path but the OpenAPI document and its docs page (so unknown paths are 401, not 404, to
  strangers);
* buffers the body up to :data:`MAX_BODY` bytes (413 beyond);
* turns anything unexpected into a JSON 500 without a traceback;
* writes one ``admin`` log event per request: who, what, the status, never a secret.

Errors are always ``{"error": "<code>", "message": "<sentence>"}``: 400 for any bad input
(validation, malformed JSON; never FastAPI's 422), 401/403 for credentials, 404, 405, 409, 413,
503 when the database is unavailable.

This module imports FastAPI; :mod:`regauth.web.app` imports it only when the API is first used.
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, cast

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regauth.accounts import (
    AccountError,
    Conflict,
    GrantView,
    GroupView,
    InvalidInput,
    RefreshTokenView,
    RobotView,
    TokenView,
    UserView,
)
from regauth.admin_auth import (
    AdminAuthError,
    AdminPrincipal,
    parse_admin_authorization,
    verify_admin_token,
)
from regauth.audit import AuditFilter, query_audit
from regauth.clock import Clock, utcnow
from regauth.credentials import parse_duration
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver

__all__ = ["MAX_BODY", "AdminGate", "create_admin_api"]

log = structlog.get_logger("regauth.admin")

T = TypeVar("T")

#: the largest request body accepted (an import of ten thousand users fits)
MAX_BODY = 2 * 1024 * 1024
_PRINCIPAL = "regauth.admin"
_MAX_ID = 2**63 - 1
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


def _error(
    status: int, message: str, headers: Mapping[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    body = {"error": code or _ERROR_CODES.get(status, "error"), "message": message}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# ------------------------------------------------------------------------------ request bodies

#: printable text: no control characters (PostgreSQL refuses NUL; logs and terminals the rest)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, Field(max_length=128)]
Password = Annotated[str, Field(max_length=1024, json_schema_extra={"format": "password"})]
Email = Annotated[str, Field(max_length=320, pattern=_PRINTABLE)]
Description = Annotated[str, Field(max_length=500, pattern=_PRINTABLE)]
Pattern = Annotated[str, Field(max_length=255, examples=["team/*"])]
Role = Literal["pull", "push", "delete", "admin"]
Action = Literal["pull", "push", "delete"]
Outcome = Literal["granted", "partial", "denied", "rejected"]  # regauth.audit.OUTCOMES
ExpiresAt = Annotated[
    str,
    Field(
        max_length=64,
        description="ISO 8601 date or time; without a zone it is UTC",
        examples=["2027-01-31T00:00:00Z"],
    ),
]
ExpiresIn = Annotated[
    str, Field(max_length=32, description="a duration: 30d, 12h, 90m, 2w", examples=["90d"])
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Body):
    username: Name
    password: Password | None = None
    email: Email | None = None
    is_admin: bool = False
    enabled: bool = True


class UserUpdate(_Body):
    email: Email | None = Field(default=None, description='null or "" removes the address')
    is_admin: bool | None = None
    enabled: bool | None = None


class PasswordChange(_Body):
    password: Password


class ImportedUser(_Body):
    username: Name
    password_hash: Annotated[str, Field(max_length=255, pattern=_PRINTABLE)]


class UserImport(_Body):
    users: Annotated[list[ImportedUser], Field(max_length=10000)]
    replace: bool = False


class GroupCreate(_Body):
    name: Name
    description: Description | None = None


class GrantCreate(_Body):
    user: Name | None = None
    group: Name | None = None
    robot: Name | None = None
    public: bool = False
    pattern: Pattern
    role: Role


class RobotGrant(_Body):
    pattern: Pattern
    role: Role


class RobotCreate(_Body):
    name: Annotated[str, Field(max_length=64)]
    description: Description | None = None
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    grants: Annotated[list[RobotGrant], Field(max_length=100)] = []


class TokenCreate(_Body):
    user: Name
    name: Name
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    repositories: Annotated[list[Pattern], Field(max_length=100)] | None = None
    actions: Annotated[list[Action], Field(max_length=3)] | None = None


# ------------------------------------------------------- response shapes (the OpenAPI document)


class ErrorBody(BaseModel):
    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["no such user: 'alice'"])


@dataclass(frozen=True)
class CreatedRobot(RobotView):
    secret: str


@dataclass(frozen=True)
class CreatedToken(TokenView):
    secret: str


class ImportResult(BaseModel):
    created: list[str]
    skipped: list[str]


# ------------------------------------------------------------------------------------ context


@dataclass(frozen=True)
class _Settings:
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


def _context(request: Request) -> AdminContext:
    principal = request.scope.get(_PRINCIPAL)
    if not isinstance(principal, AdminPrincipal):  # AdminGate sets it; never reached otherwise
        raise ApiError(401, "authentication required")
    settings = cast(_Settings, request.app.state.regauth)
    return AdminContext(settings.runtime, principal, settings.clock)


Context = Annotated[AdminContext, Depends(_context)]
GrantId = Annotated[int, Path(ge=1, le=_MAX_ID)]
TokenId = Annotated[int, Path(ge=1, le=_MAX_ID)]
UsernameParam = Annotated[str, Path(max_length=128)]
GroupParam = Annotated[str, Path(max_length=128, description="may contain '/'")]
RobotParam = Annotated[str, Path(max_length=64)]
UserFilter = Annotated[str | None, Query(max_length=128)]


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _no_content() -> Response:
    return Response(status_code=204)


def _utc(moment: datetime.datetime, what: str) -> datetime.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise InvalidInput(f"{what}: out of range") from None


def _parse_time(text: str, what: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{what}: not an ISO 8601 date or time: {text[:40]!r} (e.g. 2027-01-31T12:00:00Z)"
        ) from None
    return _utc(moment, what)


def _expiry(
    expires_at: str | None, expires_in: str | None, now: datetime.datetime
) -> datetime.datetime | None:
    if expires_at is not None and expires_in is not None:
        raise InvalidInput("give expires_at or expires_in, not both")
    if expires_at is not None:
        return _parse_time(expires_at, "body.expires_at")
    if expires_in is None:
        return None
    try:
        moment = now + parse_duration(expires_in)
    except ValueError as exc:
        raise InvalidInput(f"body.expires_in: {exc}") from None
    except OverflowError:
        raise InvalidInput("body.expires_in: too far in the future") from None
    if moment <= now:
        raise InvalidInput("body.expires_in: the expiry must be in the future")
    return moment


# ------------------------------------------------------------------------------------- routes

_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Invalid input"),
        (401, "Missing or invalid credentials"),
        (403, "Not an administrator, or a limited token"),
    )
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Not found"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody, "description": "Conflict"}}


def _ok(model: Any, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": "OK" if status == 200 else "Created"}}


router = APIRouter(dependencies=[Depends(_context)], responses=_COMMON_ERRORS)

# users ------------------------------------------------------------------------------------


@router.get("/users", tags=["users"], response_model=None, responses=_ok(list[UserView]))
async def list_users(ctx: Context) -> JSONResponse:
    users = await ctx.run(ctx.runtime.accounts.list_users)
    return _json([u.as_dict() for u in users])


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    response_model=None,
    responses={**_ok(UserView, 201), **_CONFLICT},
)
async def create_user(ctx: Context, body: UserCreate) -> JSONResponse:
    user = await ctx.run(
        ctx.runtime.accounts.create_user,
        body.username,
        password=body.password,
        email=body.email,
        is_admin=body.is_admin,
        enabled=body.enabled,
    )
    await ctx.changed()
    return _json(user.as_dict(), 201)


@router.post("/users/import", tags=["users"], response_model=None, responses=_ok(ImportResult))
async def import_users(ctx: Context, body: UserImport) -> JSONResponse:
    """Create users from (username, bcrypt or argon2id hash) pairs; existing ones are skipped,
    or get the new hash with ``replace``. All or nothing."""
    created, skipped = await ctx.run(
        ctx.runtime.accounts.import_users,
        [(u.username, u.password_hash) for u in body.users],
        replace=body.replace,
    )
    await ctx.changed()
    return _json({"created": created, "skipped": skipped})


@router.get(
    "/users/{username}",
    tags=["users"],
    response_model=None,
    responses={**_ok(UserView), **_NOT_FOUND},
)
async def get_user(ctx: Context, username: UsernameParam) -> JSONResponse:
    return _json((await ctx.run(ctx.runtime.accounts.get_user, username)).as_dict())


@router.patch(
    "/users/{username}",
    tags=["users"],
    response_model=None,
    responses={**_ok(UserView), **_NOT_FOUND, **_CONFLICT},
)
async def update_user(ctx: Context, username: UsernameParam, body: UserUpdate) -> JSONResponse:
    """Change the email address, the administrator flag or whether the user may log in.
    Disabling a user also revokes their refresh tokens."""
    given = body.model_fields_set
    if username == ctx.admin.username and (body.is_admin is False or body.enabled is False):
        raise Conflict(
            "you cannot disable yourself or drop your own administrator rights; "
            "ask another administrator"
        )
    accounts = ctx.runtime.accounts
    if "email" not in given and body.is_admin is None and body.enabled is None:
        return _json((await ctx.run(accounts.get_user, username)).as_dict())
    email = (body.email or "") if "email" in given else None
    user = await ctx.run(
        accounts.update_user, username, email=email, is_admin=body.is_admin, enabled=body.enabled
    )
    await ctx.changed()
    return _json(user.as_dict())


@router.put(
    "/users/{username}/password",
    tags=["users"],
    response_model=None,
    responses={**_ok(UserView), **_NOT_FOUND},
)
async def set_password(ctx: Context, username: UsernameParam, body: PasswordChange) -> JSONResponse:
    """Set a new password; the user's refresh tokens stop working."""
    user = await ctx.run(ctx.runtime.accounts.set_password, username, body.password)
    await ctx.changed()
    return _json(user.as_dict())


@router.delete(
    "/users/{username}", tags=["users"], status_code=204, responses={**_NOT_FOUND, **_CONFLICT}
)
async def delete_user(ctx: Context, username: UsernameParam) -> Response:
    if username == ctx.admin.username:
        raise Conflict("you cannot delete yourself; ask another administrator")
    await ctx.run(ctx.runtime.accounts.delete_user, username)
    await ctx.changed()
    return _no_content()


# groups -----------------------------------------------------------------------------------


@router.get("/groups", tags=["groups"], response_model=None, responses=_ok(list[GroupView]))
async def list_groups(ctx: Context) -> JSONResponse:
    groups = await ctx.run(ctx.runtime.accounts.list_groups)
    return _json([g.as_dict() for g in groups])


@router.post(
    "/groups",
    tags=["groups"],
    status_code=201,
    response_model=None,
    responses={**_ok(GroupView, 201), **_CONFLICT},
)
async def create_group(ctx: Context, body: GroupCreate) -> JSONResponse:
    group = await ctx.run(
        ctx.runtime.accounts.create_group, body.name, description=body.description
    )
    await ctx.changed()
    return _json(group.as_dict(), 201)


# the member routes come first: a group name may contain '/'
@router.put(
    "/groups/{name:path}/members/{username}",
    tags=["groups"],
    response_model=None,
    responses={**_ok(GroupView), **_NOT_FOUND},
)
async def add_member(ctx: Context, name: GroupParam, username: UsernameParam) -> JSONResponse:
    group = await ctx.run(ctx.runtime.accounts.add_member, name, username)
    await ctx.changed()
    return _json(group.as_dict())


@router.delete(
    "/groups/{name:path}/members/{username}",
    tags=["groups"],
    status_code=204,
    responses=_NOT_FOUND,
)
async def remove_member(ctx: Context, name: GroupParam, username: UsernameParam) -> Response:
    await ctx.run(ctx.runtime.accounts.remove_member, name, username)
    await ctx.changed()
    return _no_content()


@router.get(
    "/groups/{name:path}",
    tags=["groups"],
    response_model=None,
    responses={**_ok(GroupView), **_NOT_FOUND},
)
async def get_group(ctx: Context, name: GroupParam) -> JSONResponse:
    return _json((await ctx.run(ctx.runtime.accounts.get_group, name)).as_dict())


@router.delete("/groups/{name:path}", tags=["groups"], status_code=204, responses=_NOT_FOUND)
async def delete_group(ctx: Context, name: GroupParam) -> Response:
    await ctx.run(ctx.runtime.accounts.delete_group, name)
    await ctx.changed()
    return _no_content()


# grants -----------------------------------------------------------------------------------


@router.get(
    "/grants",
    tags=["grants"],
    response_model=None,
    responses={**_ok(list[GrantView]), **_NOT_FOUND},
)
async def list_grants(
    ctx: Context,
    user: UserFilter = None,
    group: UserFilter = None,
    robot: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    grants = await ctx.run(ctx.runtime.accounts.list_grants, user=user, group=group, robot=robot)
    return _json([g.as_dict() for g in grants])


@router.post(
    "/grants",
    tags=["grants"],
    status_code=201,
    response_model=None,
    responses={**_ok(GrantView, 201), **_NOT_FOUND},
)
async def create_grant(ctx: Context, body: GrantCreate) -> JSONResponse:
    """A role on a repository pattern for exactly one of user, group, robot, or public."""
    grant = await ctx.run(
        ctx.runtime.accounts.add_grant,
        pattern=body.pattern,
        role=body.role,
        user=body.user,
        group=body.group,
        robot=body.robot,
        public=body.public,
        created_by=ctx.admin.username,
    )
    await ctx.changed()
    return _json(grant.as_dict(), 201)


@router.delete("/grants/{grant_id}", tags=["grants"], status_code=204, responses=_NOT_FOUND)
async def delete_grant(ctx: Context, grant_id: GrantId) -> Response:
    await ctx.run(ctx.runtime.accounts.remove_grant, grant_id)
    await ctx.changed()
    return _no_content()


# robots -----------------------------------------------------------------------------------


@router.get("/robots", tags=["robots"], response_model=None, responses=_ok(list[RobotView]))
async def list_robots(ctx: Context) -> JSONResponse:
    robots = await ctx.run(ctx.runtime.accounts.list_robots)
    return _json([r.as_dict() for r in robots])


@router.post(
    "/robots",
    tags=["robots"],
    status_code=201,
    response_model=None,
    responses={**_ok(CreatedRobot, 201), **_CONFLICT},
)
async def create_robot(ctx: Context, body: RobotCreate) -> JSONResponse:
    """A robot account (log in as ``robot+NAME``); the secret is in this response only."""
    expires_at = _expiry(body.expires_at, body.expires_in, ctx.clock())
    created = await ctx.run(
        ctx.runtime.accounts.create_robot,
        body.name,
        description=body.description,
        expires_at=expires_at,
        grants=[(g.pattern, g.role) for g in body.grants],
        created_by=ctx.admin.username,
    )
    await ctx.changed()
    return _json(created.as_dict(), 201)


@router.post(
    "/robots/{name}/revoke",
    tags=["robots"],
    response_model=None,
    responses={**_ok(RobotView), **_NOT_FOUND},
)
async def revoke_robot(ctx: Context, name: RobotParam) -> JSONResponse:
    robot = await ctx.run(ctx.runtime.accounts.revoke_robot, name)
    await ctx.changed()
    return _json(robot.as_dict())


@router.delete("/robots/{name}", tags=["robots"], status_code=204, responses=_NOT_FOUND)
async def delete_robot(ctx: Context, name: RobotParam) -> Response:
    await ctx.run(ctx.runtime.accounts.delete_robot, name)
    await ctx.changed()
    return _no_content()


# personal access tokens -------------------------------------------------------------------


@router.get(
    "/tokens",
    tags=["tokens"],
    response_model=None,
    responses={**_ok(list[TokenView]), **_NOT_FOUND},
)
async def list_tokens(ctx: Context, user: UserFilter = None) -> JSONResponse:
    tokens = await ctx.run(ctx.runtime.accounts.list_tokens, user)
    return _json([t.as_dict() for t in tokens])


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    response_model=None,
    responses={**_ok(CreatedToken, 201), **_NOT_FOUND},
)
async def create_token(ctx: Context, body: TokenCreate) -> JSONResponse:
    """A personal access token for a user, optionally limited to repositories and actions;
    the secret is in this response only."""
    expires_at = _expiry(body.expires_at, body.expires_in, ctx.clock())
    created = await ctx.run(
        ctx.runtime.accounts.create_token,
        body.user,
        body.name,
        expires_at=expires_at,
        repositories=body.repositories,
        actions=body.actions,
    )
    await ctx.changed()
    return _json(created.as_dict(), 201)


@router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204, responses=_NOT_FOUND)
async def revoke_token(ctx: Context, token_id: TokenId) -> Response:
    """Revoke a personal access token (it stays listed, with ``revoked_at``)."""
    await ctx.run(ctx.runtime.accounts.revoke_token, token_id)
    await ctx.changed()
    return _no_content()


# refresh tokens ---------------------------------------------------------------------------


@router.get(
    "/refresh-tokens",
    tags=["refresh tokens"],
    response_model=None,
    responses={**_ok(list[RefreshTokenView]), **_NOT_FOUND},
)
async def list_refresh_tokens(ctx: Context, user: UserFilter = None) -> JSONResponse:
    tokens = await ctx.run(ctx.runtime.accounts.list_refresh_tokens, user)
    return _json([t.as_dict() for t in tokens])


@router.delete(
    "/refresh-tokens/{token_id}", tags=["refresh tokens"], status_code=204, responses=_NOT_FOUND
)
async def revoke_refresh_token(ctx: Context, token_id: TokenId) -> Response:
    await ctx.run(ctx.runtime.accounts.revoke_refresh_tokens, token_id=token_id)
    await ctx.changed()
    return _no_content()


@router.delete("/refresh-tokens", tags=["refresh tokens"], status_code=204, responses=_NOT_FOUND)
async def revoke_users_refresh_tokens(
    ctx: Context, user: Annotated[str, Query(max_length=128)]
) -> Response:
    """Revoke every refresh token of ``user``."""
    await ctx.run(ctx.runtime.accounts.revoke_refresh_tokens, username=user)
    await ctx.changed()
    return _no_content()


# audit and whoami -------------------------------------------------------------------------


@router.get("/audit", tags=["audit"], response_model=None)
async def audit(
    ctx: Context,
    account: Annotated[str | None, Query(max_length=256)] = None,
    repository: Annotated[str | None, Query(max_length=255)] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601")] = None,
    until: Annotated[str | None, Query(max_length=64, description="ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> JSONResponse:
    """Token decisions, newest first."""
    filters = AuditFilter(
        account=account,
        repository=repository,
        outcome=outcome,
        since=_parse_time(since, "query.since") if since is not None else None,
        until=_parse_time(until, "query.until") if until is not None else None,
        limit=limit,
    )
    return _json(await ctx.run(query_audit, ctx.runtime.database, filters))


@router.get("/whoami", tags=["whoami"], response_model=None, responses=_ok(UserView))
async def whoami(ctx: Context) -> JSONResponse:
    """The administrator the credentials belong to."""
    return _json((await ctx.run(ctx.runtime.accounts.get_user, ctx.admin.username)).as_dict())


# ------------------------------------------------------------------------------------- errors


def _validation_message(request: Request, errors: Sequence[Any]) -> tuple[str, str]:
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
    code, message = _validation_message(request, errors)
    return _error(400, message, code=code)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path (Starlette names only the first route's)."""
    base = cast(_Settings, request.app.state.regauth).base
    path = str(request.scope["path"])
    methods: set[str] = set()
    if path.startswith(base):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(path[len(base) :]):
                methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for this type only
        raise exc
    path = request.url.path[:200]
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return _error(404, f"no such API route: {request.method} {path}")
    if exc.status_code == 405:
        allowed = _allowed_methods(request) or headers.get("allow") or ""
        message = f"method {request.method} is not allowed on {path}"
        if allowed:
            message += f"; use {allowed}"
        return _error(405, message, headers={"allow": allowed} if allowed else None)
    detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    return _error(exc.status_code, detail)


async def _on_account_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AccountError):  # registered for this type only
        raise exc
    return _error(exc.status, exc.message)


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for this type only
        raise exc
    return _error(exc.status, exc.message, code=exc.code)


async def _on_database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("admin api: database unavailable", error_type=type(exc).__name__)
    return _error(503, "the database is unavailable or busy; try again")


async def _on_data_error(_request: Request, _exc: Exception) -> JSONResponse:
    return _error(400, "the database refused a value in the request")


async def _on_integrity_error(_request: Request, _exc: Exception) -> JSONResponse:
    return _error(409, "the change conflicts with another change made at the same time; retry")


# --------------------------------------------------------------------------------------- gate


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_error(
    send: Send, status: int, message: str, headers: Mapping[str, str] | None = None
) -> None:
    response = _error(status, message, headers)
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
        try:
            credentials = parse_admin_authorization(_header(scope, b"authorization"))
            principal = await self._runtime.database.run(
                verify_admin_token, self._runtime.database, credentials, self._clock()
            )
        except AdminAuthError as exc:
            outcome["reason"] = exc.reason
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
        scope[_PRINCIPAL] = principal
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

    def _log(self, scope: Scope, outcome: Mapping[str, Any], started: float) -> None:
        client = scope.get("client")
        headers = {
            bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
            for k, v in scope.get("headers", ())
            if k.lower() != b"authorization"
        }
        address = self._addresses.resolve(client[0] if client else None, headers)
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


# -------------------------------------------------------------------------------------- build


def _openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The document, with our 400 instead of FastAPI's 422 and the two credential schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an administrator's unrestricted personal access token",
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "username and personal access token",
                },
            }
            schema["security"] = [{"bearer": []}, {"basic": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_admin_api(runtime: Runtime, *, clock: Clock = utcnow) -> FastAPI:
    """The admin API as an ASGI app serving ``{path_prefix}/api/v1/...`` (full paths)."""
    base = f"{runtime.config.server.path_prefix}/api/v1"
    app = FastAPI(
        title="regauth admin API",
        version="1",
        description=(
            "Users, groups, grants, robots, personal access and refresh tokens, and the audit "
            "trail. Authenticate with an administrator's unrestricted personal access token: "
            "`Authorization: Bearer regauth_pat_...` (or HTTP Basic with the username and the "
            'token). Errors are JSON: `{"error": code, "message": sentence}`.'
        ),
        openapi_url=f"{base}/openapi.json",
        docs_url=f"{base}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.regauth = _Settings(runtime, clock, base)
    app.include_router(router, prefix=base)
    app.openapi = _openapi_builder(app)  # type: ignore[method-assign]
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(AccountError, _on_account_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_middleware(
        AdminGate,
        runtime=runtime,
        clock=clock,
        public_paths=frozenset({f"{base}/openapi.json", f"{base}/docs"}),
    )
    return app
