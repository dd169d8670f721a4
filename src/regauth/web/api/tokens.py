"""``/tokens``: list, create (the secret is shown once) and revoke personal access tokens."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from regauth.accounts import InvalidInput, TokenView
from regauth.web.api.bodies import CreatedToken, TokenCreate
from regauth.web.api.routing import (
    NOT_FOUND,
    Context,
    TokenId,
    UserFilter,
    json_response,
    no_content,
    ok,
    resource_router,
)
from regauth.web.api.timestamps import expiry

__all__ = ["router"]

router = resource_router()


@router.get(
    "/tokens",
    tags=["tokens"],
    response_model=None,
    responses={**ok(list[TokenView]), **NOT_FOUND},
)
async def list_tokens(ctx: Context, user: UserFilter = None) -> JSONResponse:
    tokens = await ctx.run(ctx.runtime.accounts.list_tokens, user)
    return json_response([t.as_dict() for t in tokens])


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    response_model=None,
    responses={**ok(CreatedToken, 201), **NOT_FOUND},
)
async def create_token(ctx: Context, body: TokenCreate) -> JSONResponse:
    """A personal access token for a user, optionally limited to repositories and actions;
    the secret is in this response only."""
    expires_at = expiry(body.expires_at, body.expires_in, ctx.clock(), body.expires)
    if body.read_only and body.actions is not None:
        raise InvalidInput("give read_only or actions, not both")
    created = await ctx.run(
        ctx.runtime.accounts.create_token,
        body.user,
        body.name,
        expires_at=expires_at,
        repositories=body.repositories,
        actions=["pull"] if body.read_only else body.actions,
    )
    await ctx.changed()
    return json_response(created.as_dict(), 201)


@router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204, responses=NOT_FOUND)
async def revoke_token(ctx: Context, token_id: TokenId) -> Response:
    """Revoke a personal access token (it stays listed, with ``revoked_at``)."""
    await ctx.run(ctx.runtime.accounts.revoke_token, token_id)
    await ctx.changed()
    return no_content()
