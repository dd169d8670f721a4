"""``/users``: list, create, import, read, change, set the password of, and delete users."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from regauth.accounts import Conflict, UserView
from regauth.web.api.bodies import ImportResult, PasswordChange, UserCreate, UserImport, UserUpdate
from regauth.web.api.routing import (
    CONFLICT,
    NOT_FOUND,
    Context,
    UsernameParam,
    json_response,
    no_content,
    ok,
    resource_router,
)

__all__ = ["router"]

router = resource_router()


@router.get("/users", tags=["users"], response_model=None, responses=ok(list[UserView]))
async def list_users(ctx: Context) -> JSONResponse:
    users = await ctx.run(ctx.runtime.accounts.list_users)
    return json_response([u.as_dict() for u in users])


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    response_model=None,
    responses={**ok(UserView, 201), **CONFLICT},
)
async def create_user(ctx: Context, body: UserCreate) -> JSONResponse:
    user = await ctx.run(
        ctx.runtime.accounts.create_user,
        body.username,
        password=body.password,
        email=body.email,
        is_admin=body.is_admin,
        enabled=body.enabled,
        labels=body.labels,
    )
    await ctx.changed()
    return json_response(user.as_dict(), 201)


@router.post("/users/import", tags=["users"], response_model=None, responses=ok(ImportResult))
async def import_users(ctx: Context, body: UserImport) -> JSONResponse:
    """Create users from (username, bcrypt or argon2id hash) pairs; existing ones are skipped,
    or get the new hash with ``replace``. All or nothing."""
    created, skipped = await ctx.run(
        ctx.runtime.accounts.import_users,
        [(u.username, u.password_hash) for u in body.users],
        replace=body.replace,
    )
    await ctx.changed()
    return json_response({"created": created, "skipped": skipped})


@router.get(
    "/users/{username}",
    tags=["users"],
    response_model=None,
    responses={**ok(UserView), **NOT_FOUND},
)
async def get_user(ctx: Context, username: UsernameParam) -> JSONResponse:
    return json_response((await ctx.run(ctx.runtime.accounts.get_user, username)).as_dict())


@router.patch(
    "/users/{username}",
    tags=["users"],
    response_model=None,
    responses={**ok(UserView), **NOT_FOUND, **CONFLICT},
)
async def update_user(ctx: Context, username: UsernameParam, body: UserUpdate) -> JSONResponse:
    """Change the email address, the administrator flag, whether the user may log in, or the
    labels (the whole set). Disabling a user also revokes their refresh tokens."""
    given = body.model_fields_set
    if username == ctx.admin.username and (body.is_admin is False or body.enabled is False):
        raise Conflict(
            "you cannot disable yourself or drop your own administrator rights; "
            "ask another administrator"
        )
    accounts = ctx.runtime.accounts
    if (
        "email" not in given
        and body.is_admin is None
        and body.enabled is None
        and body.labels is None
    ):
        return json_response((await ctx.run(accounts.get_user, username)).as_dict())
    email = (body.email or "") if "email" in given else None
    user = await ctx.run(
        accounts.update_user,
        username,
        email=email,
        is_admin=body.is_admin,
        enabled=body.enabled,
        labels=body.labels,
    )
    await ctx.changed()
    return json_response(user.as_dict())


@router.put(
    "/users/{username}/password",
    tags=["users"],
    response_model=None,
    responses={**ok(UserView), **NOT_FOUND},
)
async def set_password(ctx: Context, username: UsernameParam, body: PasswordChange) -> JSONResponse:
    """Set a new password; the user's refresh tokens stop working."""
    user = await ctx.run(ctx.runtime.accounts.set_password, username, body.password)
    await ctx.changed()
    return json_response(user.as_dict())


@router.delete(
    "/users/{username}", tags=["users"], status_code=204, responses={**NOT_FOUND, **CONFLICT}
)
async def delete_user(ctx: Context, username: UsernameParam) -> Response:
    if username == ctx.admin.username:
        raise Conflict("you cannot delete yourself; ask another administrator")
    await ctx.run(ctx.runtime.accounts.delete_user, username)
    await ctx.changed()
    return no_content()
