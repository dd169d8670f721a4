"""What the login pages and the access-token authenticator need from a provider.

Two implementations: :class:`regauth.oidc.openid.OpenIdProvider` (OpenID Connect with
discovery: generic, GitLab, Google) and :class:`regauth.oidc.github.GitHubProvider` (GitHub's
OAuth 2.0 and REST API); :func:`regauth.oidc.factory.build_provider` picks one.
Each takes the ``httpx.AsyncClient`` to use per call, so the login
pages and the authenticator can share one provider object (its discovery document and keys)
while owning their own connections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import httpx

from regauth.oidc.claims import ExternalIdentity
from regauth.oidc.presets import ProviderSettings

__all__ = [
    "IdentityProvider",
    "VerifiedToken",
    "looks_like_opaque_token",
]

#: RFC 6750 ``b64token``, long enough not to be a typed password
_OPAQUE = re.compile(r"[A-Za-z0-9\-._~+/]{20,4096}=*")
_OWN_PREFIXES = ("regauth_",)


def looks_like_opaque_token(value: str) -> bool:
    """Could ``value`` be an opaque OAuth2 access token (not one of regauth's own secrets)?"""
    return bool(_OPAQUE.fullmatch(value)) and not value.startswith(_OWN_PREFIXES)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """An access token the provider vouches for, and the user it belongs to."""

    identity: ExternalIdentity
    #: the token's ``exp`` (epoch seconds), when known
    expires_at: float | None
    #: whether the provider can revoke it before ``exp`` (introspected, not self-contained)
    revocable: bool


class IdentityProvider(Protocol):
    @property
    def settings(self) -> ProviderSettings: ...

    async def authorization_url(
        self,
        http: httpx.AsyncClient,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
    ) -> str:
        """Where to send the browser to log in."""

    async def complete_login(
        self,
        http: httpx.AsyncClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
        issuer: str | None,
    ) -> ExternalIdentity:
        """Exchange the code and establish who logged in (``issuer``: RFC 9207 ``iss``)."""

    async def verify_access_token(
        self, http: httpx.AsyncClient, token: str
    ) -> VerifiedToken | None:
        """The token's user, or None when the token is not this provider's (or not active
        here). Raises TokenRejected, IdentityRejected or ProviderUnavailable."""
