"""``/events`` and ``/repositories``: what the registry reported it did (newest first, the
same filters as ``regauth events``, paged by cursor), and the repository index kept from it."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from regauth.accounts import InvalidInput, NotFound
from regauth.activity import (
    EventFilter,
    RepositoryFilter,
    get_repository,
    list_repositories,
    query_events,
)
from regauth.durations import parse_moment
from regauth.web.api.routing import NOT_FOUND, Context, json_response, resource_router

__all__ = ["router"]

Action = Literal["push", "pull", "delete", "mount"]  # protocol.notifications.ACTIONS

router = resource_router()
_MOMENT = "a duration before now (1h, 7d) or an ISO 8601 date or time (UTC unless it says)"
_CURSOR = "the `next` of the previous page"


def _moment(text: str | None, now: datetime.datetime, what: str) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except ValueError as exc:
        raise InvalidInput(f"{what}: {exc}") from None


@router.get("/events", tags=["registry events"], response_model=None)
async def events(
    ctx: Context,
    repository: Annotated[str | None, Query(max_length=255)] = None,
    actor: Annotated[str | None, Query(max_length=256, description='"" for anonymous')] = None,
    action: Annotated[Action | None, Query()] = None,
    digest: Annotated[str | None, Query(max_length=256)] = None,
    tag: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[str | None, Query(max_length=64, description=_MOMENT)] = None,
    until: Annotated[str | None, Query(max_length=64, description=_MOMENT)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description=_CURSOR)] = None,
) -> JSONResponse:
    """Registry events (push, pull, delete, mount), newest first: `{"events": [...], "next":
    cursor or null}`."""
    now = ctx.clock()
    try:
        filters = EventFilter(
            repository=repository,
            actor=actor,
            action=action,
            digest=digest,
            tag=tag,
            since=_moment(since, now, "query.since"),
            until=_moment(until, now, "query.until"),
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:
        raise InvalidInput(f"query.{exc}") from None
    page = await ctx.run(query_events, ctx.runtime.database, filters)
    return json_response(page.as_dict())


@router.get("/repositories", tags=["registry events"], response_model=None)
async def repositories(
    ctx: Context,
    prefix: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=300, description=_CURSOR)] = None,
) -> JSONResponse:
    """The repository index, most recently active first: per repository its last push, pull
    and delete, manifest push and pull counts, and tags (`{"repositories": [...], "next"}`)."""
    try:
        filters = RepositoryFilter(prefix=prefix, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidInput(f"query.{exc}") from None
    page = await ctx.run(list_repositories, ctx.runtime.database, filters)
    return json_response(page.as_dict())


@router.get(
    "/repositories/{name:path}", tags=["registry events"], response_model=None, responses=NOT_FOUND
)
async def repository(ctx: Context, name: str) -> JSONResponse:
    """One repository of the index, with its tags."""
    found: dict[str, Any] | None = await ctx.run(get_repository, ctx.runtime.database, name)
    if found is None:
        raise NotFound(f"no events for repository {name[:255]!r}")
    return json_response(found)
