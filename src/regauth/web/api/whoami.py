"""``/whoami``: the administrator the request's credentials belong to."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from regauth.accounts import UserView
from regauth.web.api.routing import Context, json_response, ok, resource_router

__all__ = ["router"]

router = resource_router()


@router.get("/whoami", tags=["whoami"], response_model=None, responses=ok(UserView))
async def whoami(ctx: Context) -> JSONResponse:
    """The administrator the credentials belong to."""
    user = await ctx.run(ctx.runtime.accounts.get_user, ctx.admin.username)
    return json_response(user.as_dict())
