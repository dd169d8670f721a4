"""``/admin/grants``: every role grant, filtered by subject, pattern and role, sortable and
paged; add one (a user, group, robot, or public) and remove one.

The add form's fields are ``subject_kind`` (user, group, robot, public, or authenticated:
every signed-in user), ``subject``,
``pattern`` and ``role``; the same names filter the list (``GET /admin/grants?subject_kind=
user&subject=alice``), so a user's or group's page links to its grants.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import ROLES, AccountError, NotFound, check_pattern, check_role
from regauth.accounts.listings import GRANT_SORTS, GrantFilter
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.admin_support import listing_page, perform, query_text, row_id
from regauth.web.console.tables import database_table, requested_order

__all__ = ["routes"]

SUBJECT_KINDS = ("user", "group", "robot", "public", "authenticated")
#: subjects without a name
_EVERYONE = ("public", "authenticated")


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
        wanted = GrantFilter(
            kind=filters["subject_kind"] if filters["subject_kind"] in SUBJECT_KINDS else "",
            subject=filters["subject"],
            pattern=filters["pattern"],
            role=filters["role"],
        )
        query = request.query_params
        sort, descending, number = requested_order(query, GRANT_SORTS, default="id")
        grants, total = await console.run(
            console.accounts.page_grants, wanted, listing_page(sort, descending, number)
        )
        return console.render(
            request,
            "admin/grants.html",
            viewer=viewer,
            status=status,
            active="admin-grants",
            table=database_table(
                grants, total, query, sort=sort, descending=descending, page=number
            ),
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
            errors["subject_kind"] = "Choose user, group, robot, public or authenticated."
        elif kind not in _EVERYONE and not subject:
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
        subject_args = {kind: subject} if kind not in _EVERYONE else {kind: True}
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
