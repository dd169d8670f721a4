"""``/admin/tokens``: every personal access token, refresh token and console session of every
account, each revocable; one kind at a time (``?show=tokens|refresh|sessions``), filtered by
account (``?user=``) and state (``?state=live|ended``), sortable and paged.

Revoking here is what the owner's own pages and the admin API do: the credential stops working
on every instance at its next use (a personal access token's cached logins are dropped by the
change signal).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import AccountError, NotFound
from regauth.web.console.context import Console, PageError
from regauth.web.console.pages.admin_support import perform, query_text, row_id
from regauth.web.console.tables import table

__all__ = ["SHOW", "routes"]

#: the kinds of credential, as ``?show=`` names them
SHOW = ("tokens", "refresh", "sessions")

_COLUMNS: dict[str, Any] = {
    "user": lambda t: t.user,
    "created": lambda t: t.created_at,
    "expires": lambda t: t.expires_at,
    "state": lambda t: t.revoked_at is not None,
}
_LAST_USED: dict[str, Any] = {
    "tokens": lambda t: t.last_used_at,
    "refresh": lambda t: t.last_used_at,
    "sessions": lambda t: t.last_seen_at,
}


def _live(item: Any, now: datetime.datetime) -> bool:
    expires: datetime.datetime | None = item.expires_at
    return item.revoked_at is None and (expires is None or expires > now)


def routes(console: Console) -> list[BaseRoute]:
    async def load(show: str, user: str | None) -> Sequence[Any]:
        accounts = console.accounts
        if show == "refresh":
            return await console.run(accounts.list_refresh_tokens, user)
        if show == "sessions":
            return await console.run(accounts.list_console_sessions, user, include_ended=True)
        return await console.run(accounts.list_tokens, user)

    async def tokens(request: Request) -> Response:
        viewer = await console.require_admin(request)
        show = query_text(request, "show")
        show = show if show in SHOW else "tokens"
        user = query_text(request, "user")
        state = query_text(request, "state")
        try:
            items = await load(show, user or None)
        except NotFound:  # a filter naming nobody: nothing of theirs
            items = []
        now = console.clock()
        if state == "live":
            items = [i for i in items if _live(i, now)]
        elif state == "ended":
            items = [i for i in items if not _live(i, now)]
        columns = {**_COLUMNS, "last-used": _LAST_USED[show]}
        if show == "tokens":
            columns["name"] = lambda t: t.name
        return console.render(
            request,
            "admin/tokens.html",
            viewer=viewer,
            active="admin-tokens",
            show=show,
            user=user,
            state=state,
            table=table(items, request.query_params, columns, default="created", descending=True),
        )

    async def revoke(request: Request, show: str) -> Response:
        viewer = await console.require_admin(request)
        form = await console.form(request, viewer)
        item = row_id(request, "item_id")
        accounts = console.accounts
        try:
            if show == "tokens":
                await perform(
                    console, viewer, "revoke token", accounts.revoke_token, item,
                    log_fields={"token": item},
                )  # fmt: skip
            elif show == "refresh":
                count = await perform(
                    console, viewer, "revoke refresh token", accounts.revoke_refresh_tokens,
                    token_id=item, log_fields={"refresh_token": item},
                )  # fmt: skip
                if not count:
                    raise NotFound(f"no such live refresh token: {item}")
            else:
                await perform(
                    console, viewer, "end console session", accounts.end_console_session, item,
                    log_fields={"session": item},
                )  # fmt: skip
        except AccountError as error:
            raise PageError(error.status, error.message) from None
        target = f"/admin/tokens?show={show}"
        user = form.text("user")
        if user:
            target += "&user=" + quote(user, safe="")
        done = {"tokens": "token-revoked", "refresh": "refresh-revoked"}.get(show, "session-ended")
        return console.redirect(target, done=done)

    async def revoke_token(request: Request) -> Response:
        return await revoke(request, "tokens")

    async def revoke_refresh(request: Request) -> Response:
        return await revoke(request, "refresh")

    async def end_session(request: Request) -> Response:
        return await revoke(request, "sessions")

    return [
        Route(console.route("/admin/tokens"), tokens, methods=["GET", "HEAD"]),
        Route(console.route("/admin/tokens/{item_id:int}/revoke"), revoke_token, methods=["POST"]),
        Route(
            console.route("/admin/refresh-tokens/{item_id:int}/revoke"),
            revoke_refresh,
            methods=["POST"],
        ),
        Route(console.route("/admin/sessions/{item_id:int}/end"), end_session, methods=["POST"]),
    ]
