"""``/refresh-tokens``: list and revoke the OAuth2 refresh tokens the token endpoint issued."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from regauth.accounts import RefreshTokenView
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

__all__ = ["router"]

router = resource_router()


@router.get(
    "/refresh-tokens",
    tags=["refresh tokens"],
    response_model=None,
    responses={**ok(list[RefreshTokenView]), **NOT_FOUND},
)
async def list_refresh_tokens(ctx: Context, user: UserFilter = None) -> JSONResponse:
    tokens = await ctx.run(ctx.runtime.accounts.list_refresh_tokens, user)
    return json_response([t.as_dict() for t in tokens])


@router.delete(
    "/refresh-tokens/{token_id}", tags=["refresh tokens"], status_code=204, responses=NOT_FOUND
)
async def revoke_refresh_token(ctx: Context, token_id: TokenId) -> Response:
    await ctx.run(ctx.runtime.accounts.revoke_refresh_tokens, token_id=token_id)
    await ctx.changed()
    return no_content()


@router.delete("/refresh-tokens", tags=["refresh tokens"], status_code=204, responses=NOT_FOUND)
async def revoke_users_refresh_tokens(
    ctx: Context, user: Annotated[str, Query(max_length=128)]
) -> Response:
    """Revoke every refresh token of ``user``."""
    await ctx.run(ctx.runtime.accounts.revoke_refresh_tokens, username=user)
    await ctx.changed()
    return no_content()
