"""``/admin/groups``: every group, create one; a group's page with its members to add and
remove, and delete.

Group names may contain ``/`` (directory groups such as ``org/team``), so the paths take the
rest of the path as the name; the forms' suffixes (``/delete``, ``/members/add``,
``/members/remove``) are matched first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import (
    AccountError,
    Conflict,
    GroupView,
    check_description,
    check_group_name,
)
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.admin_support import perform, query_text
from regauth.web.console.tables import table

__all__ = ["routes"]

_COLUMNS: dict[str, Any] = {
    "name": lambda g: g.name,
    "source": lambda g: g.source,
    "members": lambda g: len(g.members),
    "description": lambda g: g.description,
}


def _quoted(name: str) -> str:
    return quote(name, safe="")


def routes(console: Console) -> list[BaseRoute]:
    async def list_page(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        groups: list[GroupView] = await console.run(console.accounts.list_groups)
        needle = query_text(request, "q")
        if needle:
            groups = [g for g in groups if needle.casefold() in g.name.casefold()]
        return console.render(
            request,
            "admin/groups.html",
            viewer=viewer,
            status=status,
            active="admin-groups",
            table=table(groups, request.query_params, _COLUMNS, default="name"),
            q=needle,
            errors=errors or {},
            values=values or {},
        )

    async def groups(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await list_page(request, viewer)

    async def create(request: Request) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        name = form.text("name")
        description = form.text("description")
        values = {"name": name, "description": description}
        errors: dict[str, str] = {}
        try:
            check_group_name(name)
        except AccountError as error:
            errors["name"] = error.message
        try:
            check_description(description or None)
        except AccountError as error:
            errors["description"] = error.message
        if errors:
            return await list_page(request, viewer, status=400, errors=errors, values=values)
        try:
            await perform(
                console,
                viewer,
                "create group",
                console.accounts.create_group,
                name,
                description=description or None,
                log_fields={"group": name},
            )
        except AccountError as error:
            where = "name" if isinstance(error, Conflict) else "_form"
            return await list_page(
                request, viewer, status=error.status, errors={where: error.message}, values=values
            )
        return console.redirect(f"/admin/groups/{_quoted(name)}", done="group-created")

    async def detail_page(
        request: Request,
        viewer: Viewer,
        name: str,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        username: str = "",
    ) -> Response:
        try:
            group = await console.run(console.accounts.get_group, name)
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        return console.render(
            request,
            "admin/group.html",
            viewer=viewer,
            status=status,
            active="admin-groups",
            title=f"Group {name}",
            group=group,
            path=console.path(f"/admin/groups/{_quoted(name)}"),
            errors=errors or {},
            username=username,
        )

    async def detail(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await detail_page(request, viewer, request.path_params["name"])

    async def delete(request: Request) -> Response:
        viewer = await console.require_admin(request)
        await console.form(request, viewer)
        name = request.path_params["name"]
        try:
            await perform(
                console,
                viewer,
                "delete group",
                console.accounts.delete_group,
                name,
                log_fields={"group": name},
            )
        except AccountError as error:
            if error.status == 404:
                raise PageError(404, error.message) from None
            return await detail_page(
                request, viewer, name, status=error.status, errors={"delete": error.message}
            )
        return console.redirect("/admin/groups", done="group-deleted")

    async def member(request: Request, *, add: bool) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        name = request.path_params["name"]
        username = form.text("username")
        operation = console.accounts.add_member if add else console.accounts.remove_member
        if not username:
            return await detail_page(
                request, viewer, name, status=400, errors={"username": "Enter a user name."}
            )
        try:
            await perform(
                console,
                viewer,
                "add member" if add else "remove member",
                operation,
                name,
                username,
                log_fields={"group": name, "user": username},
            )
        except AccountError as error:
            if not add:
                raise PageError(error.status, error.message) from None
            return await detail_page(
                request,
                viewer,
                name,
                status=error.status,
                errors={"username": error.message},
                username=username,
            )
        done = "member-added" if add else "member-removed"
        return console.redirect(f"/admin/groups/{_quoted(name)}", done=done)

    async def add_member(request: Request) -> Response:
        return await member(request, add=True)

    async def remove_member(request: Request) -> Response:
        return await member(request, add=False)

    base = "/admin/groups/{name:path}"
    return [
        Route(console.route("/admin/groups"), groups, methods=["GET", "HEAD"]),
        Route(console.route("/admin/groups"), create, methods=["POST"]),
        Route(console.route(base + "/delete"), delete, methods=["POST"]),
        Route(console.route(base + "/members/add"), add_member, methods=["POST"]),
        Route(console.route(base + "/members/remove"), remove_member, methods=["POST"]),
        Route(console.route(base), detail, methods=["GET", "HEAD"]),
    ]
