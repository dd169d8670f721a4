"""Single sign-on: OpenID Connect providers (generic, GitLab, Google) and GitHub.

    presets      an ``oidc.providers[]`` entry → checked, complete :class:`ProviderSettings`
    discovery    OpenID Connect Discovery: the provider's endpoints
    jwks         the provider's signing keys (refreshed on an unknown kid) and JWS checks
    id_token     ID token claims (OpenID Connect Core 3.1.3.7)
    access_token JWT access tokens (RFC 9068) and introspection answers (RFC 7662)
    claims       provider claims → user name, email, groups; allowed groups
    login_state  the signed cookie carrying state, nonce and PKCE verifier of a login
    openid       an OpenID Connect provider (login flow, tokens as passwords)
    github       GitHub's OAuth 2.0 and REST API
    provider     the interface both implement
    factory      :func:`build_provider`: the implementation for a provider's protocol
    users        creating/updating the user and their groups after a provider login
    fetch        one bounded HTTP exchange with a provider; errors   the exception tree

The web pages (:mod:`regauth.web.login`) and the authenticator
(:mod:`regauth.authn.idp_token`) are the two users of this package.
"""

from regauth.oidc.claims import ExternalIdentity
from regauth.oidc.errors import (
    IdentityRejected,
    OidcError,
    ProviderRefused,
    ProviderUnavailable,
    TokenRejected,
)
from regauth.oidc.factory import build_provider
from regauth.oidc.presets import ProviderConfigError, ProviderSettings, resolve_provider
from regauth.oidc.provider import IdentityProvider, VerifiedToken

__all__ = [
    "ExternalIdentity",
    "IdentityProvider",
    "IdentityRejected",
    "OidcError",
    "ProviderConfigError",
    "ProviderRefused",
    "ProviderSettings",
    "ProviderUnavailable",
    "TokenRejected",
    "VerifiedToken",
    "build_provider",
    "resolve_provider",
]
