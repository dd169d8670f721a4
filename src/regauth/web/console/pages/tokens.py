"""A person's own personal access tokens: ``GET``/``POST /tokens``, ``POST /tokens/{id}/revoke``.

The list shows only the person's own tokens (name, access, created, expires, last used, state)
with a "Revoke" button per live one; revoking another person's token id is a 404 and revokes
nothing. Creating one checks every field beside it (:mod:`.token_form`) and then shows the
secret once, on the answer to the POST itself (``id="new-secret"``; every page is no-store).
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import ACTIONS, Conflict, Created, InvalidInput, NotFound, TokenView
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.own import NO_ROW, apply_change, object_id
from regauth.web.console.pages.token_form import (
    ACCESS_CHOICES,
    TokenFields,
    describe_access,
    read_token_form,
    token_state,
)
from regauth.web.console.tables import table

__all__ = ["routes"]

log = structlog.get_logger("regauth.console")


def _columns(console: Console) -> dict[str, Any]:
    return {
        "name": lambda t: t.name,
        "access": describe_access,
        "created": lambda t: t.created_at,
        "expires": lambda t: t.expires_at,
        "used": lambda t: t.last_used_at,
        "state": lambda t: token_state(t, console.clock()),
    }


def routes(console: Console) -> list[BaseRoute]:
    columns = _columns(console)

    async def render(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        fields: TokenFields | None = None,
        errors: dict[str, str] | None = None,
        created: Created[TokenView] | None = None,
    ) -> Response:
        tokens: list[TokenView] = []
        if viewer.has_row:
            try:
                tokens = await console.run(console.accounts.list_tokens, viewer.username)
            except NotFound:
                raise PageError(404, "Your account is gone.") from None
        rows = table(tokens, request.query_params, columns, default="created", descending=True)
        return console.render(
            request,
            "tokens.html",
            viewer=viewer,
            status=status,
            active="tokens",
            table=rows,
            fields=fields or TokenFields(),
            errors=errors or {},
            created=created,
            access_choices=ACCESS_CHOICES,
            actions=ACTIONS,
            describe=describe_access,
            state_of=lambda token: token_state(token, console.clock()),
            no_row=NO_ROW,
        )

    async def page(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        return await render(request, viewer)

    async def create(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        form = await console.form(request, viewer)
        if not viewer.has_row:
            raise PageError(403, NO_ROW)
        fields, wanted, errors = read_token_form(form, console.clock())
        if wanted is None:
            return await render(request, viewer, status=400, fields=fields, errors=errors)
        try:
            created = await console.run(
                console.accounts.create_token,
                viewer.username,
                wanted.name,
                expires_at=wanted.expires_at,
                repositories=wanted.repositories,
                actions=wanted.actions,
            )
        except (InvalidInput, Conflict) as exc:
            return await render(
                request, viewer, status=exc.status, fields=fields, errors={"_form": exc.message}
            )
        except NotFound:
            raise PageError(404, "Your account is gone.") from None
        await apply_change(console)
        log.info(
            "console token created",
            user=viewer.username,
            token_id=created.view.id,
            name=created.view.name[:128],
            expires_at=created.view.expires_at.isoformat() if created.view.expires_at else None,
        )
        return await render(request, viewer, created=created)

    async def revoke(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.form(request, viewer)
        token_id = object_id(request.path_params["token_id"], "token")
        if not viewer.has_row:
            raise PageError(404, "There is no such token of yours.")
        try:
            await console.run(console.accounts.revoke_token, token_id, username=viewer.username)
        except NotFound:
            raise PageError(404, "There is no such token of yours.") from None
        await apply_change(console)
        log.info("console token revoked", user=viewer.username, token_id=token_id)
        return console.redirect("/tokens", done="token-revoked")

    return [
        Route(console.route("/tokens"), page, methods=["GET", "HEAD"]),
        Route(console.route("/tokens"), create, methods=["POST"]),
        Route(console.route("/tokens/{token_id}/revoke"), revoke, methods=["POST"]),
    ]
