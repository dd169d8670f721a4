"""``/admin/grants``: every role grant, filtered by subject, pattern and role, sortable and
paged; add one (a user, group, robot, or public) and remove one.

The add form's fields are ``subject_kind`` (user, group, robot, public), ``subject``,
``pattern`` and ``role``; the same names filter the list (``GET /admin/grants?subject_kind=
user&subject=alice``), so a user's or group's page links to its grants.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import ROLES, AccountError, GrantView, NotFound, check_pattern, check_role
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.admin_support import perform, query_text, row_id
from regauth.web.console.tables import table

__all__ = ["routes"]

SUBJECT_KINDS = ("user", "group", "robot", "public")

_COLUMNS: dict[str, Any] = {
    "id": lambda g: g.id,
    "kind": lambda g: g.subject_type,
    "subject": lambda g: g.subject,
    "pattern": lambda g: g.pattern,
    "role": lambda g: ROLES.index(g.role) if g.role in ROLES else len(ROLES),
    "created": lambda g: g.created_at,
    "by": lambda g: g.created_by,
}


def _filtered(grants: list[GrantView], filters: dict[str, str]) -> list[GrantView]:
    kind, subject = filters["subject_kind"], filters["subject"]
    pattern, role = filters["pattern"].casefold(), filters["role"]
    return [
        g
        for g in grants
        if (not kind or g.subject_type == kind)
        and (not subject or g.subject == subject)
        and (not pattern or pattern in g.pattern.casefold())
        and (not role or g.role == role)
    ]


def routes(console: Console) -> list[BaseRoute]:
    async def list_page(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        filters = {
            "subject_kind": query_text(request, "subject_kind"),
            "subject": query_text(request, "subject"),
            "pattern": query_text(request, "pattern"),
            "role": query_text(request, "role"),
        }
        grants = _filtered(await console.run(console.accounts.list_grants), filters)
        return console.render(
            request,
            "admin/grants.html",
            viewer=viewer,
            status=status,
            active="admin-grants",
            table=table(grants, request.query_params, _COLUMNS, default="id"),
            filters=filters,
            kinds=SUBJECT_KINDS,
            roles=ROLES,
            errors=errors or {},
            values=values or {"subject_kind": "user", "role": "pull"},
        )

    async def grants(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await list_page(request, viewer)

    async def add(request: Request) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        kind = form.text("subject_kind")
        subject = form.text("subject")
        pattern = form.text("pattern")
        role = form.text("role")
        values = {"subject_kind": kind, "subject": subject, "pattern": pattern, "role": role}
        errors: dict[str, str] = {}
        if kind not in SUBJECT_KINDS:
            errors["subject_kind"] = "Choose user, group, robot or public."
        elif kind != "public" and not subject:
            errors["subject"] = f"Enter the {kind}'s name."
        elif kind == "public" and role != "pull":
            errors["role"] = "A public grant can only be pull (anonymous pull)."
        for name, check, value in (("pattern", check_pattern, pattern), ("role", check_role, role)):
            try:
                check(value)
            except AccountError as error:
                errors.setdefault(name, error.message)
        if errors:
            return await list_page(request, viewer, status=400, errors=errors, values=values)
        subject_args = {kind: subject} if kind != "public" else {"public": True}
        try:
            await perform(
                console,
                viewer,
                "add grant",
                console.accounts.add_grant,
                pattern=pattern,
                role=role,
                created_by=viewer.username,
                log_fields={"kind": kind, "subject": subject, "pattern": pattern, "role": role},
                **subject_args,
            )
        except AccountError as error:
            where = "subject" if isinstance(error, NotFound) else "_form"
            return await list_page(
                request, viewer, status=error.status, errors={where: error.message}, values=values
            )
        return console.redirect("/admin/grants", done="grant-added")

    async def remove(request: Request) -> Response:
        viewer = await console.require_admin(request)
        await console.form(request, viewer)
        grant_id = row_id(request, "grant_id")
        try:
            await perform(
                console,
                viewer,
                "remove grant",
                console.accounts.remove_grant,
                grant_id,
                log_fields={"grant": grant_id},
            )
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        return console.redirect("/admin/grants", done="grant-removed")

    return [
        Route(console.route("/admin/grants"), grants, methods=["GET", "HEAD"]),
        Route(console.route("/admin/grants"), add, methods=["POST"]),
        Route(console.route("/admin/grants/{grant_id:int}/remove"), remove, methods=["POST"]),
    ]
