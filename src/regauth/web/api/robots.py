"""``/robots``: list, create (the secret is shown once, or a federated robot with none), revoke
and delete robot accounts."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from regauth.accounts import RobotView, check_federation
from regauth.web.api.bodies import CreatedRobot, RobotCreate
from regauth.web.api.routing import (
    CONFLICT,
    NOT_FOUND,
    Context,
    RobotParam,
    json_response,
    no_content,
    ok,
    resource_router,
)
from regauth.web.api.timestamps import expiry

__all__ = ["router"]

router = resource_router()


@router.get("/robots", tags=["robots"], response_model=None, responses=ok(list[RobotView]))
async def list_robots(ctx: Context) -> JSONResponse:
    robots = await ctx.run(ctx.runtime.accounts.list_robots)
    return json_response([r.as_dict() for r in robots])


@router.post(
    "/robots",
    tags=["robots"],
    status_code=201,
    response_model=None,
    responses={**ok(CreatedRobot, 201), **CONFLICT},
)
async def create_robot(ctx: Context, body: RobotCreate) -> JSONResponse:
    """A robot account (log in as ``robot+NAME``); the secret is in this response only. With
    ``federated``, the robot has no secret (``secret`` is null) and logs in with its CI
    system's ID token (keyless CI)."""
    expires_at = expiry(body.expires_at, body.expires_in, ctx.clock(), body.expires)
    federation = None
    if body.federated is not None:
        wanted = body.federated
        federation = check_federation(wanted.issuer, wanted.audience, wanted.claims)
    created = await ctx.run(
        ctx.runtime.accounts.create_robot,
        body.name,
        description=body.description,
        expires_at=expires_at,
        grants=[(g.pattern, g.role) for g in body.grants],
        created_by=ctx.admin.username,
        federation=federation,
    )
    await ctx.changed()
    return json_response(created.as_dict(), 201)


@router.post(
    "/robots/{name}/revoke",
    tags=["robots"],
    response_model=None,
    responses={**ok(RobotView), **NOT_FOUND},
)
async def revoke_robot(ctx: Context, name: RobotParam) -> JSONResponse:
    robot = await ctx.run(ctx.runtime.accounts.revoke_robot, name)
    await ctx.changed()
    return json_response(robot.as_dict())


@router.delete("/robots/{name}", tags=["robots"], status_code=204, responses=NOT_FOUND)
async def delete_robot(ctx: Context, name: RobotParam) -> Response:
    await ctx.run(ctx.runtime.accounts.delete_robot, name)
    await ctx.changed()
    return no_content()
