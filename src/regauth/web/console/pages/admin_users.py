"""``/admin/users``: every user (sortable, paged, filtered), create one; a user's page with
disable, enable, password reset, delete, and their console sessions to end.

Disabling, deleting and resetting the password go through :class:`AccountService`, which ends
the user's refresh tokens and console sessions in the same transaction and refuses to lose the
last enabled administrator (that refusal is shown beside the form, 409). Like the admin API,
an administrator cannot disable or delete themselves while another administrator remains.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import (
    AccountError,
    Conflict,
    check_email,
    check_password,
    check_username,
)
from regauth.accounts.listings import USER_SORTS
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.forms import SubmittedForm
from regauth.web.console.pages.admin_support import listing_page, perform, query_text, row_id
from regauth.web.console.tables import database_table, requested_order

__all__ = ["routes"]


#: what a form on a user's page does: returns the page to go to next
Step = Callable[[Viewer, str, SubmittedForm], Awaitable[str]]


def routes(console: Console) -> list[BaseRoute]:
    async def list_page(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Response:
        needle = query_text(request, "q")
        query = request.query_params
        sort, descending, number = requested_order(query, USER_SORTS, default="name")
        users, total = await console.run(
            console.accounts.page_users, needle, listing_page(sort, descending, number)
        )
        rows = database_table(users, total, query, sort=sort, descending=descending, page=number)
        return console.render(
            request,
            "admin/users.html",
            viewer=viewer,
            status=status,
            active="admin-users",
            table=rows,
            q=needle,
            errors=errors or {},
            values=values or {},
        )

    async def users(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await list_page(request, viewer)

    async def create(request: Request) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        username = form.text("username")
        email = form.text("email")
        password = form.get("password")
        is_admin = form.checked("is_admin")
        values = {"username": username, "email": email, "is_admin": is_admin}
        errors: dict[str, str] = {}
        for name, check, value in (
            ("username", check_username, username),
            ("email", check_email, email),
            ("password", check_password, password),
        ):
            try:
                check(value)
            except AccountError as error:
                errors[name] = error.message
        if errors:
            return await list_page(request, viewer, status=400, errors=errors, values=values)
        try:
            await perform(
                console,
                viewer,
                "create user",
                console.accounts.create_user,
                username,
                password=password,
                email=email or None,
                is_admin=is_admin,
                log_fields={"user": username, "is_admin": is_admin},
            )
        except AccountError as error:
            where = "username" if isinstance(error, Conflict) else "_form"
            return await list_page(
                request, viewer, status=error.status, errors={where: error.message}, values=values
            )
        return console.redirect(f"/admin/users/{username}", done="user-created")

    async def detail_page(
        request: Request,
        viewer: Viewer,
        username: str,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
    ) -> Response:
        try:
            user = await console.run(console.accounts.get_user, username)
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        sessions = await console.run(console.accounts.list_console_sessions, username)
        return console.render(
            request,
            "admin/user.html",
            viewer=viewer,
            status=status,
            active="admin-users",
            title=f"User {username}",
            user=user,
            sessions=sessions,
            errors=errors or {},
        )

    async def detail(request: Request) -> Response:
        viewer = await console.require_admin(request)
        return await detail_page(request, viewer, request.path_params["name"])

    async def refuse_self(viewer: Viewer, username: str, what: str) -> None:
        """Yourself, while another administrator remains: ask them (as the admin API does).
        The last administrator is left to the account service, which refuses with its own
        message."""
        if username != viewer.username:
            return
        others = [
            u
            for u in await console.run(console.accounts.list_users)
            if u.is_admin and u.enabled and u.username != username
        ]
        if others:
            raise Conflict(f"you cannot {what} yourself; ask another administrator")

    async def user_action(request: Request, step: Step, done: str, field: str) -> Response:
        """A form on a user's page: CSRF, the step, then back to the page (or the list)."""
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        username = request.path_params["name"]
        try:
            target = await step(viewer, username, form)
        except AccountError as error:
            if error.status == 404:
                raise PageError(404, error.message) from None
            return await detail_page(
                request, viewer, username, status=error.status, errors={field: error.message}
            )
        return console.redirect(target, done=done)

    async def disable(request: Request) -> Response:
        async def step(viewer: Viewer, username: str, _form: SubmittedForm) -> str:
            await refuse_self(viewer, username, "disable")
            await perform(
                console, viewer, "disable user", console.accounts.set_enabled, username, False,
                log_fields={"user": username},
            )  # fmt: skip
            return f"/admin/users/{username}"

        return await user_action(request, step, "user-disabled", "disable")

    async def enable(request: Request) -> Response:
        async def step(viewer: Viewer, username: str, _form: SubmittedForm) -> str:
            await perform(
                console, viewer, "enable user", console.accounts.set_enabled, username, True,
                log_fields={"user": username},
            )  # fmt: skip
            return f"/admin/users/{username}"

        return await user_action(request, step, "user-enabled", "enable")

    async def reset_password(request: Request) -> Response:
        async def step(viewer: Viewer, username: str, form: SubmittedForm) -> str:
            password = form.get("password")
            check_password(password)
            await perform(
                console, viewer, "reset password", console.accounts.set_password, username,
                password, log_fields={"user": username},
            )  # fmt: skip
            return f"/admin/users/{username}"

        return await user_action(request, step, "password-reset", "password")

    async def delete(request: Request) -> Response:
        async def step(viewer: Viewer, username: str, _form: SubmittedForm) -> str:
            await refuse_self(viewer, username, "delete")
            await perform(
                console, viewer, "delete user", console.accounts.delete_user, username,
                log_fields={"user": username},
            )  # fmt: skip
            return "/admin/users"

        return await user_action(request, step, "user-deleted", "delete")

    async def end_session(request: Request) -> Response:
        viewer = await console.require_admin(request)
        await console.form(request, viewer)
        username = request.path_params["name"]
        session_id = row_id(request, "session_id")
        try:
            await perform(
                console,
                viewer,
                "end console session",
                console.accounts.end_console_session,
                session_id,
                username=username,
                log_fields={"user": username, "session": session_id},
            )
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        return console.redirect(f"/admin/users/{username}", done="session-ended")

    base = "/admin/users/{name}"
    return [
        Route(console.route("/admin/users"), users, methods=["GET", "HEAD"]),
        Route(console.route("/admin/users"), create, methods=["POST"]),
        Route(console.route(base), detail, methods=["GET", "HEAD"]),
        Route(console.route(base + "/disable"), disable, methods=["POST"]),
        Route(console.route(base + "/enable"), enable, methods=["POST"]),
        Route(console.route(base + "/password"), reset_password, methods=["POST"]),
        Route(console.route(base + "/delete"), delete, methods=["POST"]),
        Route(
            console.route(base + "/sessions/{session_id:int}/end"), end_session, methods=["POST"]
        ),
    ]
