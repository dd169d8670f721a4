"""``/lockouts``: the guessing limits' blocks, listed and lifted (as ``regauth lockout``)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Path, Query
from fastapi.responses import JSONResponse

from regauth.accounts import LockoutsCleared, LockoutView
from regauth.accounts.lockouts import DEFAULT_LIMIT, MAX_LIMIT
from regauth.web.api.routing import NOT_FOUND, Context, json_response, ok, resource_router

__all__ = ["router"]

log = structlog.get_logger("regauth.admin")

router = resource_router()


@router.get("/lockouts", tags=["lockouts"], response_model=None, responses=ok(list[LockoutView]))
async def list_lockouts(
    ctx: Context,
    include_all: Annotated[
        bool, Query(alias="all", description="also the counters that do not block now")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JSONResponse:
    """The accounts and addresses whose logins are refused now, newest failure first.
    ``kind`` is ``account`` (locked out from every address), ``address`` (any account from
    it) or ``account_address`` (one account from one address)."""
    counters = await ctx.run(
        ctx.runtime.accounts.list_lockouts, include_all=include_all, limit=limit
    )
    return json_response([c.as_dict() for c in counters])


@router.delete(
    "/lockouts/{target:path}",
    tags=["lockouts"],
    response_model=None,
    # a target with a line break in it matches no route (the path converter stops there)
    responses={**ok(LockoutsCleared), **NOT_FOUND},
)
async def clear_lockouts(
    ctx: Context,
    target: Annotated[
        str,
        Path(
            min_length=1,
            max_length=256,
            # no control characters; not only spaces (ASCII classes: the same in every engine)
            pattern=r"^[\x20-\x7e\xa0-\uffff]*[\x21-\x7e\xa0-\uffff][\x20-\x7e\xa0-\uffff]*$",
            description="an account name (any case), an IPv4 address, or an IPv6 address or "
            "its /64",
        ),
    ],
) -> JSONResponse:
    """Lift every block and count of an account or an address, on every instance at once.
    Clearing what has nothing counted is not an error: ``cleared`` is 0."""
    cleared = await ctx.run(ctx.runtime.accounts.clear_lockouts, target)
    log.info(
        "lockout cleared",
        admin=ctx.admin.username,
        kind=cleared.kind,
        key=cleared.key,
        cleared=cleared.cleared,
        were_blocking=cleared.were_blocking,
    )
    return json_response(cleared.as_dict())
