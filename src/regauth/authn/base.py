"""The contract every authenticator fulfils.

An authenticator looks at a username and a secret and answers one of three things:

* ``AUTHENTICATED`` with an :class:`Identity`;
* ``UNKNOWN``: not one of mine, try the next authenticator;
* ``DENIED``: mine, but the secret is wrong (or the account is disabled): stop, answer 401.

A backend that cannot answer (a directory is down) raises
:class:`regauth.protocol.errors.BackendUnavailable`; the chain reports it and never grants.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from regauth.protocol.secret import Secret

__all__ = ["ANONYMOUS", "AuthResult", "Authenticator", "Identity", "Outcome"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token is for. ``subject`` is the account name; ``""`` is anonymous."""

    subject: str
    #: how the identity was established: "anonymous", "static", "htpasswd", ...
    method: str
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def anonymous(self) -> bool:
        return self.subject == ""


ANONYMOUS = Identity(subject="", method="anonymous")


class Outcome(enum.Enum):
    AUTHENTICATED = "authenticated"
    UNKNOWN = "unknown"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class AuthResult:
    outcome: Outcome
    identity: Identity | None = None
    #: for the log only, never shown to the client and never containing the secret
    reason: str = ""

    @classmethod
    def unknown(cls) -> AuthResult:
        return _UNKNOWN

    @classmethod
    def denied(cls, reason: str) -> AuthResult:
        return cls(Outcome.DENIED, reason=reason)

    @classmethod
    def success(cls, identity: Identity) -> AuthResult:
        return cls(Outcome.AUTHENTICATED, identity=identity)


_UNKNOWN = AuthResult(Outcome.UNKNOWN)


class Authenticator(Protocol):
    #: short name for logs and the ``method`` of identities it creates
    name: str
    #: whether a success may be remembered by the credential cache (False for credentials
    #: that can be revoked elsewhere and must stop working at once)
    cacheable: bool

    async def refresh(self) -> None:
        """Notice changes to the backing data (cheap; called before every authentication)."""

    async def authenticate(self, username: str, password: Secret) -> AuthResult: ...
