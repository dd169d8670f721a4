"""``/admin/activity``: what the registry reported it did (push, pull, delete, mount), newest
first, with the filters of ``regauth events`` and ``GET /api/v1/events``.

The fields are ``repository``, ``actor`` (``(anonymous)`` for requests without a login),
``action`` (``any`` or one action), ``tag``, ``digest``, ``since`` and ``until`` (``1h``, ``7d``
back from now, or an ISO 8601 date or time: :func:`regauth.durations.parse_moment`, as the
CLI parses them); bad input is 400 with the message beside the field. Pages follow the
query's cursor, so a page stays the same while new events arrive: the links carry the cursors
of the pages before (``cursor``, repeated), which is how "Newer" finds its way back.

For administrators only: events name people, their addresses and their clients across every
repository (a repository's own page shows its latest events to whoever may pull it).
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.activity import EventFilter, query_events
from regauth.durations import parse_moment
from regauth.protocol.notifications import ACTIONS
from regauth.web.console.activity import ANONYMOUS, EventRow, event_row
from regauth.web.console.context import Console

__all__ = ["MAX_PAGES", "PAGE_SIZE", "routes"]

PAGE_SIZE = 50
#: how deep "Older" goes (the links carry a cursor per page); narrow with until beyond
MAX_PAGES = 100
#: each text field and its longest value (the columns' sizes)
LIMITS = {
    "repository": 255,
    "actor": 256,
    "action": 16,
    "tag": 128,
    "digest": 256,
    "since": 64,
    "until": 64,
}
STALE_LINK = "This page's link is out of date; start again from the newest events."


def _link(path: str, values: dict[str, str], trail: list[str]) -> str:
    """The page with these filters, after the pages whose cursors are in ``trail``."""
    params = [(k, v) for k, v in values.items() if v and not (k == "action" and v == "any")]
    query = urlencode(params + [("cursor", c) for c in trail])
    return path + ("?" + query if query else "")


def routes(console: Console) -> list[BaseRoute]:
    async def activity(request: Request) -> Response:
        viewer = await console.require_admin(request)
        errors: dict[str, str] = {}
        values: dict[str, str] = {}
        for name, limit in LIMITS.items():
            value = request.query_params.get(name, "").strip()
            if len(value) > limit:
                errors[name] = f"At most {limit} characters."
                value = value[:limit]
            values[name] = value
        action = values["action"]
        if action not in ("", "any", *ACTIONS):
            errors["action"] = f"Choose any, or one of {', '.join(ACTIONS)}."
        now = console.clock()
        moments: dict[str, datetime.datetime | None] = {"since": None, "until": None}
        for name in moments:
            if values[name] and name not in errors:
                try:
                    moments[name] = parse_moment(values[name], now)
                except ValueError as error:
                    errors[name] = str(error)
        trail = request.query_params.getlist("cursor")
        if len(trail) > MAX_PAGES:
            errors["_form"] = STALE_LINK
        events: list[EventRow] = []
        next_cursor: str | None = None
        if not errors:
            actor = values["actor"]
            try:
                filters = EventFilter(
                    repository=values["repository"] or None,
                    actor="" if actor == ANONYMOUS else (actor or None),
                    action=action if action in ACTIONS else None,
                    tag=values["tag"] or None,
                    digest=values["digest"] or None,
                    since=moments["since"],
                    until=moments["until"],
                    limit=PAGE_SIZE,
                    cursor=trail[-1] if trail else None,
                )
            except ValueError:  # only the cursor can be wrong here
                errors["_form"] = STALE_LINK
            else:
                page = await console.run(query_events, console.runtime.database, filters)
                events = [event_row(e) for e in page.events]
                next_cursor = page.next
        deeper = next_cursor is not None and len(trail) < MAX_PAGES
        here = console.path("/admin/activity")
        return console.render(
            request,
            "admin/activity.html",
            viewer=viewer,
            status=400 if errors else 200,
            active="admin-activity",
            title="Activity",
            events=events,
            values={**values, "action": action if action in ACTIONS else "any"},
            action_options=[("any", "any"), *((a, a) for a in ACTIONS)],
            anonymous=ANONYMOUS,
            errors=errors,
            page=len(trail) + 1,
            newest_link=_link(here, values, []) if len(trail) > 1 else "",
            newer_link=_link(here, values, trail[:-1]) if trail else "",
            older_link=_link(here, values, [*trail, next_cursor]) if deeper and next_cursor else "",
            too_deep=next_cursor is not None and not deeper,
        )

    return [Route(console.route("/admin/activity"), activity, methods=["GET", "HEAD"])]
