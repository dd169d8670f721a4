"""``/keys``: the token signing keys, as ``regauth keys`` manages them: list, add (a new key or
an imported one), activate, retire. Refused (409) with a configured key (``token.key``).

Every change reaches every worker and instance on its next request through the change log;
this process applies it before answering.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from regauth.accounts import InvalidInput
from regauth.accounts.signing_keys import SigningKeys
from regauth.keyring import CONFIGURED_KEY_MESSAGE
from regauth.keys import KeyError_, KeyInfo, KeyMaterial
from regauth.web.api.bodies import ErrorBody
from regauth.web.api.gate import ApiError
from regauth.web.api.routing import (
    NOT_FOUND,
    Context,
    json_response,
    ok,
    resource_router,
)

__all__ = ["router"]

router = resource_router()

KeyId = Annotated[
    str,
    Path(
        min_length=4,
        max_length=128,
        pattern=r"^[A-Za-z0-9:_-]+$",
        description="a thumbprint, a libtrust ID, or a unique prefix (4 characters at least)",
    ),
]
_NOT_MANAGED: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "A state that forbids it, or a key from the configuration (token.key)",
    }
}


class KeyCreate(BaseModel):
    """A new key (``{}``), or an existing key pair to import (``private_key`` with or without
    ``certificate``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    algorithm: Literal["ES256", "RS256"] | None = Field(
        default=None,
        description="a new key's algorithm (default: token.algorithm); an imported key must "
        "fit it (default: the key's own)",
    )
    private_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=16384,
        description="an unencrypted PEM private key (EC P-256 or RSA of 2048 bits or more) "
        "to import instead of making a new key",
        json_schema_extra={"format": "password"},
    )
    certificate: str | None = Field(
        default=None,
        min_length=1,
        max_length=65536,
        description="the imported key's PEM certificate chain, leaf first; only with "
        "private_key (without it: a self-signed certificate)",
    )


def _store(ctx: Context) -> SigningKeys:
    store = ctx.runtime.signing_keys
    if store is None:
        raise ApiError(409, CONFIGURED_KEY_MESSAGE, code="keys_not_managed")
    return store


def _material(body: KeyCreate, default_algorithm: str) -> KeyMaterial:
    if body.private_key is None:
        if body.certificate is not None:
            raise InvalidInput("certificate: only with private_key (the key it certifies)")
        return KeyMaterial.generate(body.algorithm or default_algorithm)
    try:
        return KeyMaterial.from_pem(
            body.private_key.encode("utf-8"),
            body.certificate.encode("utf-8") if body.certificate is not None else None,
            algorithm=body.algorithm,
            key_name="private_key",
            chain_name="certificate",
        )
    except KeyError_ as exc:
        raise InvalidInput(str(exc)) from None


@router.get(
    "/keys", tags=["keys"], response_model=None, responses={**ok(list[KeyInfo]), **_NOT_MANAGED}
)
async def list_keys(ctx: Context) -> JSONResponse:
    """Every signing key, oldest first, with its state and until when it is published."""
    infos = await ctx.run(_store(ctx).describe)
    return json_response([info.as_dict() for info in infos])


@router.post(
    "/keys",
    tags=["keys"],
    status_code=201,
    response_model=None,
    responses={**ok(KeyInfo, 201), **_NOT_MANAGED},
)
async def add_key(ctx: Context, body: Annotated[KeyCreate | None, Body()] = None) -> JSONResponse:
    """A new (or imported) key: published at once in the JWKS and in the data folder's
    bundle.pem and jwks.json, not signing until activated. Restart the registries so they
    read it before activating it."""
    store = _store(ctx)
    algorithm = ctx.runtime.config.token.algorithm
    material = await ctx.run(_material, body or KeyCreate(), algorithm)
    info = await ctx.run(store.add, material)
    await ctx.changed()
    return json_response(info.as_dict(), 201)


@router.post(
    "/keys/{kid}/activate",
    tags=["keys"],
    response_model=None,
    responses={**ok(KeyInfo), **NOT_FOUND, **_NOT_MANAGED},
)
async def activate_key(ctx: Context, kid: KeyId) -> JSONResponse:
    """Sign with this key from now on, on every worker and instance (from its next request);
    the key signing until now stays published."""
    info = await ctx.run(_store(ctx).activate, kid)
    await ctx.changed()
    return json_response(info.as_dict())


@router.post(
    "/keys/{kid}/retire",
    tags=["keys"],
    response_model=None,
    responses={**ok(KeyInfo), **NOT_FOUND, **_NOT_MANAGED},
)
async def retire_key(ctx: Context, kid: KeyId) -> JSONResponse:
    """Retire a key (not the active one): published until no token it signed can still be
    valid (``published_until``), then left out."""
    info = await ctx.run(_store(ctx).retire, kid)
    await ctx.changed()
    return json_response(info.as_dict())
