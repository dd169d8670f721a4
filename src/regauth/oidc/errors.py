"""What can go wrong talking to an identity provider, as exception classes.

    OidcError
    ├── ProviderUnavailable   the provider cannot be reached, times out, answers 5xx or
    │                         nonsense, or its discovery document is wrong (502 on the login
    │                         pages, 503 at the token endpoint; never a grant)
    ├── ProviderRefused       the provider answered a request of ours with an OAuth2 error
    │                         (``invalid_grant`` for a used or expired code, ``access_denied``)
    ├── TokenRejected         a token failed validation: signature, issuer, audience, expiry,
    │                         nonce, inactive at introspection (definite: may be cached)
    └── IdentityRejected      a valid token whose user may not log in here: no usable user name,
                              not in an allowed group or organisation

Messages name the provider and the check that failed; they never contain a token, a code, a
secret or a password, so they may be logged and shown.
"""

from __future__ import annotations

__all__ = [
    "IdentityRejected",
    "OidcError",
    "ProviderRefused",
    "ProviderUnavailable",
    "TokenRejected",
]


class OidcError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProviderUnavailable(OidcError):
    """No usable answer from the provider (network, timeout, 5xx, malformed document)."""


class ProviderRefused(OidcError):
    """The provider refused a request with an OAuth2 error code (RFC 6749 section 5.2)."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


class TokenRejected(OidcError):
    """A token is invalid. ``definite``: it stays invalid, so the verdict may be cached (not
    so for a key ID the provider may publish a moment later)."""

    def __init__(self, message: str, *, definite: bool = True) -> None:
        super().__init__(message)
        self.definite = definite


class IdentityRejected(OidcError):
    """The token is valid but its user may not use regauth (name, groups, organisation)."""
