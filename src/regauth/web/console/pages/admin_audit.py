"""``/admin/audit``: the audit trail of token decisions, newest first, filtered by account,
repository, outcome and time, and paged in the database.

The filters are the admin API's (``GET /api/v1/audit``), read by :func:`regauth.audit.
query_audit`; a page asks for one row more than it shows, so it knows whether a next page
exists without counting the whole table. ``since`` and ``until`` take a date or time
(``2026-11-25``, UTC unless a zone is given) or a duration back from now (``1h``, ``7d``).
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.audit import MAX_OFFSET, OUTCOMES, AuditFilter, query_audit
from regauth.durations import parse_moment
from regauth.web.console.context import Console
from regauth.web.console.pages.admin_support import query_text

__all__ = ["PAGE_SIZE", "routes"]

PAGE_SIZE = 50
MAX_PAGE = MAX_OFFSET // PAGE_SIZE


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """A row of :func:`query_audit` with its time as a datetime again."""
    return {**row, "at": datetime.datetime.fromisoformat(row["at"])}


def routes(console: Console) -> list[BaseRoute]:
    async def audit(request: Request) -> Response:
        viewer = await console.require_admin(request)
        values = {
            name: query_text(request, name)
            for name in ("account", "repository", "outcome", "since", "until")
        }
        errors: dict[str, str] = {}
        if values["outcome"] and values["outcome"] not in OUTCOMES:
            errors["outcome"] = f"Choose one of {', '.join(OUTCOMES)}."
        now = console.clock()
        moments: dict[str, datetime.datetime | None] = {"since": None, "until": None}
        for name in moments:
            if values[name]:
                try:
                    moments[name] = parse_moment(values[name], now)
                except ValueError as error:
                    errors[name] = str(error)
        try:
            page = min(max(int(request.query_params.get("page", "1")), 1), MAX_PAGE)
        except ValueError:
            page = 1
        events: list[dict[str, Any]] = []
        more = False
        if not errors:
            filters = AuditFilter(
                account=values["account"] or None,
                repository=values["repository"] or None,
                outcome=values["outcome"] or None,
                since=moments["since"],
                until=moments["until"],
                limit=PAGE_SIZE + 1,
                offset=(page - 1) * PAGE_SIZE,
            )
            rows = await console.run(query_audit, console.runtime.database, filters)
            more = len(rows) > PAGE_SIZE
            events = [_event(row) for row in rows[:PAGE_SIZE]]
        kept = {k: v for k, v in values.items() if v}
        return console.render(
            request,
            "admin/audit.html",
            viewer=viewer,
            status=400 if errors else 200,
            active="admin-audit",
            events=events,
            values=values,
            errors=errors,
            outcomes=OUTCOMES,
            page=page,
            previous_link="?" + urlencode({**kept, "page": page - 1}) if page > 1 else "",
            next_link="?" + urlencode({**kept, "page": page + 1}) if more else "",
        )

    return [Route(console.route("/admin/audit"), audit, methods=["GET", "HEAD"])]
