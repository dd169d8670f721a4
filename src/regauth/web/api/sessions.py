"""``/sessions``: sign-in sessions, the web console's (kind browser) and signed-in machines'
(kind device, from the device sign-in), listed with their last use and ended one by one or all
of a user's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from regauth.accounts import ConsoleSessionView
from regauth.web.api.routing import (
    NOT_FOUND,
    Context,
    TokenId,
    UserFilter,
    json_response,
    no_content,
    ok,
    resource_router,
)

__all__ = ["router"]

router = resource_router()


@router.get(
    "/sessions",
    tags=["sessions"],
    response_model=None,
    responses={**ok(list[ConsoleSessionView])},
)
async def list_sessions(
    ctx: Context,
    user: UserFilter = None,
    kind: Annotated[Literal["browser", "device"] | None, Query()] = None,
    include_ended: Annotated[bool, Query()] = False,
) -> JSONResponse:
    """Live sessions (``include_ended`` adds the ended ones of the last week), newest first."""
    sessions = await ctx.run(
        ctx.runtime.accounts.list_console_sessions, user, include_ended=include_ended, kind=kind
    )
    return json_response([s.as_dict() for s in sessions])


@router.delete("/sessions/{session_id}", tags=["sessions"], status_code=204, responses=NOT_FOUND)
async def end_session(ctx: Context, session_id: TokenId) -> Response:
    await ctx.run(ctx.runtime.accounts.end_console_session, session_id)
    return no_content()


@router.delete("/sessions", tags=["sessions"], status_code=204, responses=NOT_FOUND)
async def end_users_sessions(ctx: Context, user: Annotated[str, Query(max_length=128)]) -> Response:
    """End every session of ``user`` (signs them out everywhere, machines included)."""
    await ctx.run(ctx.runtime.accounts.end_console_sessions_of, user)
    return no_content()
