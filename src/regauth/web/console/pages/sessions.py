"""Where the signed-in person is signed in: ``GET /sessions`` and the forms that end sessions.

* their live console sessions (the current one marked; address, user agent, created, last
  seen), each with "End" (``POST /sessions/{id}/end``; ending the current one signs out), and
  "Sign out everywhere else" (``POST /sessions/end-others``);
* their refresh tokens (what ``docker login`` and podman keep instead of a password), each live
  one with "Revoke" (``POST /refresh-tokens/{id}/revoke``).

Another person's session or refresh token id is a 404 and ends nothing. The two tables sort
and page on their own: the refresh tokens' query parameters carry the prefix ``rt-``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import ConsoleSessionView, NotFound, RefreshTokenView
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.own import NO_ROW, apply_change, object_id
from regauth.web.console.signing_in import clear_session_cookie
from regauth.web.console.tables import Table, table

__all__ = ["PrefixedTable", "prefixed_table", "routes"]

log = structlog.get_logger("regauth.console")

T = TypeVar("T")
REFRESH_PREFIX = "rt-"


@dataclass(frozen=True)
class PrefixedTable(Table[T]):
    """A second table on a page: its sort and page parameters carry a prefix."""

    prefix: str = ""

    def link(self, **changes: Any) -> str:
        own = {"sort": self.sort, "order": "desc" if self.descending else "asc"}
        own["page"] = str(self.page)
        own.update({k: str(v) for k, v in changes.items()})
        params = {**self.query, **{self.prefix + k: v for k, v in own.items()}}
        return "?" + urlencode(params)


def prefixed_table(
    items: Sequence[T],
    query: Mapping[str, str],
    columns: Mapping[str, Callable[[T], Any]],
    *,
    prefix: str,
    default: str,
    descending: bool = False,
) -> PrefixedTable[T]:
    own = {k[len(prefix) :]: v for k, v in query.items() if k.startswith(prefix)}
    others = {k: v for k, v in query.items() if not k.startswith(prefix)}
    cut = table(items, own, columns, default=default, descending=descending)
    values = {f.name: getattr(cut, f.name) for f in dataclasses.fields(cut)}
    return PrefixedTable(**{**values, "query": others}, prefix=prefix)


def _refresh_state(token: RefreshTokenView, console: Console) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= console.clock():
        return "expired"
    return "active"


def routes(console: Console) -> list[BaseRoute]:
    session_columns: dict[str, Callable[[ConsoleSessionView], Any]] = {
        "created": lambda s: s.created_at,
        "seen": lambda s: s.last_seen_at,
        "address": lambda s: s.address,
        "agent": lambda s: s.user_agent,
    }
    refresh_columns: dict[str, Callable[[RefreshTokenView], Any]] = {
        "client": lambda t: t.client_id,
        "created": lambda t: t.created_at,
        "used": lambda t: t.last_used_at,
        "expires": lambda t: t.expires_at,
        "state": lambda t: _refresh_state(t, console),
    }

    async def own_refresh_tokens(viewer: Viewer) -> list[RefreshTokenView]:
        if not viewer.has_row:
            return []
        try:
            return await console.run(console.accounts.list_refresh_tokens, viewer.username)
        except NotFound:
            raise PageError(404, "Your account is gone.") from None

    async def page(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        sessions = await console.run(console.accounts.list_console_sessions, viewer.username)
        refresh = await own_refresh_tokens(viewer)
        query = request.query_params
        return console.render(
            request,
            "sessions.html",
            viewer=viewer,
            active="sessions",
            sessions=table(sessions, query, session_columns, default="seen", descending=True),
            refresh=prefixed_table(
                refresh,
                query,
                refresh_columns,
                prefix=REFRESH_PREFIX,
                default="created",
                descending=True,
            ),
            refresh_state=lambda token: _refresh_state(token, console),
            no_row=NO_ROW,
        )

    async def end(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.form(request, viewer)
        session_id = object_id(request.path_params["session_id"], "session")
        try:
            await console.run(
                console.accounts.end_console_session, session_id, username=viewer.username
            )
        except NotFound:
            raise PageError(404, "There is no such session of yours.") from None
        log.info("console session ended", user=viewer.username, session_id=session_id)
        if session_id == viewer.session.id:  # the one in this browser: signed out
            response = console.redirect("/login", done="signed-out")
            response.raw_headers.append((b"set-cookie", clear_session_cookie(console).encode()))
            return response
        return console.redirect("/sessions", done="session-ended")

    def end_others_of(username: str, current: int) -> int:
        ended = 0
        for session in console.accounts.list_console_sessions(username):
            if session.id != current:
                try:
                    console.accounts.end_console_session(session.id, username=username)
                except NotFound:  # gone meanwhile
                    continue
                ended += 1
        return ended

    async def end_others(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.form(request, viewer)
        ended = await console.run(end_others_of, viewer.username, viewer.session.id)
        log.info("console sessions ended", user=viewer.username, count=ended, kept="current")
        return console.redirect("/sessions", done="sessions-ended")

    async def revoke_refresh(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.form(request, viewer)
        token_id = object_id(request.path_params["token_id"], "refresh token")
        mine = {token.id for token in await own_refresh_tokens(viewer)}
        if token_id not in mine:
            raise PageError(404, "There is no such refresh token of yours.")
        try:
            await console.run(console.accounts.revoke_refresh_tokens, token_id=token_id)
        except NotFound:
            raise PageError(404, "There is no such refresh token of yours.") from None
        await apply_change(console)
        log.info("console refresh token revoked", user=viewer.username, token_id=token_id)
        return console.redirect("/sessions", done="refresh-revoked")

    return [
        Route(console.route("/sessions"), page, methods=["GET", "HEAD"]),
        Route(console.route("/sessions/end-others"), end_others, methods=["POST"]),
        Route(console.route("/sessions/{session_id}/end"), end, methods=["POST"]),
        Route(console.route("/refresh-tokens/{token_id}/revoke"), revoke_refresh, methods=["POST"]),
    ]
