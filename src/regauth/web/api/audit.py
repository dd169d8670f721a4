"""``/audit``: the token decisions of the audit trail, newest first, filtered."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from regauth.audit import AuditFilter, query_audit
from regauth.web.api.routing import Context, json_response, resource_router
from regauth.web.api.timestamps import parse_time

__all__ = ["router"]

Outcome = Literal["granted", "partial", "denied", "rejected", "throttled"]  # audit.OUTCOMES

router = resource_router()
#: in the document: a date-time (a date such as 2026-11-25 is taken too)
_TIME: dict[str, Any] = {"json_schema_extra": {"format": "date-time"}}


@router.get("/audit", tags=["audit"], response_model=None)
async def audit(
    ctx: Context,
    account: Annotated[str | None, Query(max_length=256)] = None,
    repository: Annotated[str | None, Query(max_length=255)] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601", **_TIME)] = None,
    until: Annotated[str | None, Query(max_length=64, description="ISO 8601", **_TIME)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> JSONResponse:
    """Token decisions, newest first."""
    filters = AuditFilter(
        account=account,
        repository=repository,
        outcome=outcome,
        since=parse_time(since, "query.since") if since is not None else None,
        until=parse_time(until, "query.until") if until is not None else None,
        limit=limit,
    )
    return json_response(await ctx.run(query_audit, ctx.runtime.database, filters))
