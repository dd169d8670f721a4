"""``/admin/robots``: robot accounts (CI and other machines), create one with its grants,
revoke, delete.

A new robot's secret is shown once, on the answer to the create form (``id="new-secret"``,
with ``Cache-Control: no-store`` like every page); it is never stored or logged. Grants are
given one per line as ``PATTERN ROLE`` (``ci/* push``).
"""

from __future__ import annotations

import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import (
    AccountError,
    Conflict,
    InvalidInput,
    RobotView,
    check_description,
    check_pattern,
    check_robot_name,
    check_role,
)
from regauth.durations import parse_expiry
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.admin_support import perform
from regauth.web.console.tables import table

__all__ = ["parse_grant_lines", "routes"]

MAX_GRANT_LINES = 100

_COLUMNS: dict[str, Any] = {
    "name": lambda r: r.name,
    "created": lambda r: r.created_at,
    "expires": lambda r: r.expires_at,
    "last-used": lambda r: r.last_used_at,
    "state": lambda r: r.revoked_at is not None,
}


def parse_grant_lines(text: str) -> list[tuple[str, str]]:
    """``PATTERN ROLE`` per line (blank lines skipped) as pairs; AccountError on a bad line."""
    grants: list[tuple[str, str]] = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_GRANT_LINES:
        raise InvalidInput(f"at most {MAX_GRANT_LINES} grants")
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) != 2:
            raise InvalidInput(f"line {number}: give a pattern and a role, such as ci/* push")
        pattern, role = parts
        check_pattern(pattern)
        check_role(role)
        grants.append((pattern, role))
    return grants


def routes(console: Console) -> list[BaseRoute]:
    async def list_page(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        created: tuple[str, RobotView] | None = None,
    ) -> Response:
        robots = await console.run(console.accounts.list_robots)
        return console.render(
            request,
            "admin/robots.html",
            viewer=viewer,
            status=status,
            active="admin-robots",
            table=table(robots, request.query_params, _COLUMNS, default="name"),
            errors=errors or {},
            values=values or {"expires": "never"},
            created=created,
        )

    async def robots(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await list_page(request, viewer)

    async def create(request: Request) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        name = form.text("name")
        description = form.text("description")
        expires = form.text("expires")
        grant_text = form.get("grants")
        values = {"name": name, "description": description, "expires": expires}
        values["grants"] = grant_text
        errors: dict[str, str] = {}
        expires_at: datetime.datetime | None = None
        grants: list[tuple[str, str]] = []
        try:
            check_robot_name(name)
        except AccountError as error:
            errors["name"] = error.message
        try:
            check_description(description or None)
        except AccountError as error:
            errors["description"] = error.message
        try:
            expires_at = parse_expiry(expires, console.clock())
        except ValueError as error:
            errors["expires"] = str(error)
        try:
            grants = parse_grant_lines(grant_text)
        except AccountError as error:
            errors["grants"] = error.message
        if errors:
            return await list_page(request, viewer, status=400, errors=errors, values=values)
        try:
            created = await perform(
                console,
                viewer,
                "create robot",
                console.accounts.create_robot,
                name,
                description=description or None,
                expires_at=expires_at,
                grants=grants,
                created_by=viewer.username,
                log_fields={"robot": name, "grants": len(grants)},
            )
        except AccountError as error:
            where = "name" if isinstance(error, Conflict) else "_form"
            return await list_page(
                request, viewer, status=error.status, errors={where: error.message}, values=values
            )
        # the secret is shown on this answer only: no redirect (a robot made here has one;
        # federated robots, which have none, are made with the CLI or the API)
        assert created.secret is not None
        return await list_page(request, viewer, created=(created.secret, created.view))

    async def change(request: Request, *, delete: bool) -> Response:
        viewer = await console.require_admin(request)
        await console.form(request, viewer)
        name = request.path_params["name"]
        operation = console.accounts.delete_robot if delete else console.accounts.revoke_robot
        try:
            await perform(
                console,
                viewer,
                "delete robot" if delete else "revoke robot",
                operation,
                name,
                log_fields={"robot": name},
            )
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        return console.redirect(
            "/admin/robots", done="robot-deleted" if delete else "robot-revoked"
        )

    async def revoke(request: Request) -> Response:
        return await change(request, delete=False)

    async def delete(request: Request) -> Response:
        return await change(request, delete=True)

    return [
        Route(console.route("/admin/robots"), robots, methods=["GET", "HEAD"]),
        Route(console.route("/admin/robots"), create, methods=["POST"]),
        Route(console.route("/admin/robots/{name}/revoke"), revoke, methods=["POST"]),
        Route(console.route("/admin/robots/{name}/delete"), delete, methods=["POST"]),
    ]
