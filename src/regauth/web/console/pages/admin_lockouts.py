"""``/admin/lockouts``: the guessing limits' counters (those blocking logins now, or with
``?all=1`` every one), and clearing an account's or an address's.

Clearing is :meth:`AccountService.clear_lockouts`: every block and count of an account (any
case) or an address (an IPv6 one as its /64) goes, on every instance at the next login.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import AccountError
from regauth.web.console.context import Console, Viewer
from regauth.web.console.pages.admin_support import perform
from regauth.web.console.tables import table

__all__ = ["routes"]

#: counters read at most (an attacker can make many; the newest come first)
LIST_LIMIT = 5000

_COLUMNS: dict[str, Any] = {
    "kind": lambda c: c.kind,
    "account": lambda c: c.account,
    "address": lambda c: c.address,
    "failures": lambda c: c.failures,
    "blocked-until": lambda c: c.blocked_until,
    "last-failure": lambda c: c.last_failure_at,
}


def routes(console: Console) -> list[BaseRoute]:
    async def page(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        target: str = "",
    ) -> Response:
        include_all = request.query_params.get("all") == "1"
        counters = await console.run(
            console.accounts.list_lockouts, include_all=include_all, limit=LIST_LIMIT
        )
        return console.render(
            request,
            "admin/lockouts.html",
            viewer=viewer,
            status=status,
            active="admin-lockouts",
            include_all=include_all,
            limit=LIST_LIMIT,
            table=table(
                counters, request.query_params, _COLUMNS, default="last-failure", descending=True
            ),
            errors=errors or {},
            target=target,
        )

    async def lockouts(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await page(request, viewer)

    async def clear(request: Request) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        target = form.get("target").strip()
        try:
            cleared = await perform(
                console,
                viewer,
                "clear lockouts",
                console.accounts.clear_lockouts,
                target,
                log_fields={"target": target[:256]},
            )
        except AccountError as error:
            return await page(
                request,
                viewer,
                status=error.status,
                errors={"target": error.message},
                target=target,
            )
        done = "lockout-cleared" if cleared.cleared else "lockout-none"
        return console.redirect("/admin/lockouts", done=done)

    return [
        Route(console.route("/admin/lockouts"), lockouts, methods=["GET", "HEAD"]),
        Route(console.route("/admin/lockouts/clear"), clear, methods=["POST"]),
    ]
