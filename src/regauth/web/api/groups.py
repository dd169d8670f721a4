"""``/groups``: list, create, read and delete groups, and add or remove their members.

A group name may contain ``/``, so the member routes come first.
"""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from regauth.accounts import GroupView
from regauth.web.api.bodies import GroupCreate
from regauth.web.api.routing import (
    CONFLICT,
    NOT_FOUND,
    Context,
    GroupParam,
    UsernameParam,
    json_response,
    no_content,
    ok,
    resource_router,
)

__all__ = ["router"]

router = resource_router()


@router.get("/groups", tags=["groups"], response_model=None, responses=ok(list[GroupView]))
async def list_groups(ctx: Context) -> JSONResponse:
    groups = await ctx.run(ctx.runtime.accounts.list_groups)
    return json_response([g.as_dict() for g in groups])


@router.post(
    "/groups",
    tags=["groups"],
    status_code=201,
    response_model=None,
    responses={**ok(GroupView, 201), **CONFLICT},
)
async def create_group(ctx: Context, body: GroupCreate) -> JSONResponse:
    group = await ctx.run(
        ctx.runtime.accounts.create_group, body.name, description=body.description
    )
    await ctx.changed()
    return json_response(group.as_dict(), 201)


# the member routes come first: a group name may contain '/'
@router.put(
    "/groups/{name:path}/members/{username}",
    tags=["groups"],
    response_model=None,
    responses={**ok(GroupView), **NOT_FOUND},
)
async def add_member(ctx: Context, name: GroupParam, username: UsernameParam) -> JSONResponse:
    group = await ctx.run(ctx.runtime.accounts.add_member, name, username)
    await ctx.changed()
    return json_response(group.as_dict())


@router.delete(
    "/groups/{name:path}/members/{username}",
    tags=["groups"],
    status_code=204,
    responses=NOT_FOUND,
)
async def remove_member(ctx: Context, name: GroupParam, username: UsernameParam) -> Response:
    await ctx.run(ctx.runtime.accounts.remove_member, name, username)
    await ctx.changed()
    return no_content()


@router.get(
    "/groups/{name:path}",
    tags=["groups"],
    response_model=None,
    responses={**ok(GroupView), **NOT_FOUND},
)
async def get_group(ctx: Context, name: GroupParam) -> JSONResponse:
    return json_response((await ctx.run(ctx.runtime.accounts.get_group, name)).as_dict())


@router.delete("/groups/{name:path}", tags=["groups"], status_code=204, responses=NOT_FOUND)
async def delete_group(ctx: Context, name: GroupParam) -> Response:
    await ctx.run(ctx.runtime.accounts.delete_group, name)
    await ctx.changed()
    return no_content()
