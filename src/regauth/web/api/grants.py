"""``/grants``: list, add and remove roles on repository patterns."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from regauth.accounts import GrantView
from regauth.web.api.bodies import GrantCreate
from regauth.web.api.routing import (
    CONFLICT,
    NOT_FOUND,
    Context,
    GrantId,
    UserFilter,
    json_response,
    no_content,
    ok,
    resource_router,
)

__all__ = ["router"]

router = resource_router()


@router.get(
    "/grants",
    tags=["grants"],
    response_model=None,
    responses={**ok(list[GrantView]), **NOT_FOUND},
)
async def list_grants(
    ctx: Context,
    user: UserFilter = None,
    group: UserFilter = None,
    robot: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    grants = await ctx.run(ctx.runtime.accounts.list_grants, user=user, group=group, robot=robot)
    return json_response([g.as_dict() for g in grants])


@router.post(
    "/grants",
    tags=["grants"],
    status_code=201,
    response_model=None,
    responses={**ok(GrantView, 201), **NOT_FOUND, **CONFLICT},
)
async def create_grant(ctx: Context, body: GrantCreate) -> JSONResponse:
    """A role on a repository pattern for exactly one of user, group, robot, public (anonymous
    pull), or authenticated (every signed-in user); the same grant twice is a 409."""
    grant = await ctx.run(
        ctx.runtime.accounts.add_grant,
        pattern=body.pattern,
        role=body.role,
        user=body.user,
        group=body.group,
        robot=body.robot,
        public=body.public,
        authenticated=body.authenticated,
        created_by=ctx.admin.username,
    )
    await ctx.changed()
    return json_response(grant.as_dict(), 201)


@router.delete("/grants/{grant_id}", tags=["grants"], status_code=204, responses=NOT_FOUND)
async def delete_grant(ctx: Context, grant_id: GrantId) -> Response:
    await ctx.run(ctx.runtime.accounts.remove_grant, grant_id)
    await ctx.changed()
    return no_content()
