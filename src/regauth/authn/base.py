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

from regauth.patterns.repository import compile_repository_pattern
from regauth.protocol.scope import Scope
from regauth.protocol.secret import Secret

__all__ = [
    "ANONYMOUS",
    "AuthResult",
    "Authenticator",
    "EqualCost",
    "Identity",
    "Kind",
    "Outcome",
    "Restriction",
]


@dataclass(frozen=True, slots=True)
class Restriction:
    """What a credential may be used for, beyond what its owner may do (a narrowed token)."""

    #: repository patterns (``team/*``); None: any repository
    repositories: tuple[str, ...] | None = None
    #: actions; None: any
    actions: frozenset[str] | None = None

    def permits(self, scope: Scope, action: str) -> bool:
        if self.actions is not None and action not in self.actions:
            return False
        if self.repositories is None:
            return True
        if scope.type != "repository":
            return False
        return any(compile_repository_pattern(p).fullmatch(scope.name) for p in self.repositories)

    def describe(self) -> str:
        parts = []
        if self.repositories is not None:
            parts.append("repositories " + ", ".join(self.repositories))
        if self.actions is not None:
            parts.append("actions " + ", ".join(sorted(self.actions)))
        return "token limited to " + "; ".join(parts)


class Kind(enum.Enum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ROBOT = "robot"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token is for. ``subject`` is the account name; ``""`` is anonymous."""

    subject: str
    #: how the identity was established: "anonymous", "static", "htpasswd", "database", ...
    method: str
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    kind: Kind = Kind.USER
    groups: tuple[str, ...] = ()
    #: a regauth administrator (admin API, catalog)
    is_admin: bool = False
    #: the kind of secret presented: password, token, robot, refresh_token, idp_token, none
    credential: str = "password"
    restriction: Restriction | None = None
    #: database id of the user, when the user has a row there
    user_id: int | None = None
    #: what identifies the credential beyond the account, for the log and the audit trail
    #: (a federated robot's ID token: iss, sub, repository, ref, run id...); never secret
    details: Mapping[str, str] | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind is Kind.ANONYMOUS


ANONYMOUS = Identity(subject="", method="anonymous", kind=Kind.ANONYMOUS, credential="none")


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
    #: whether the credential cache may remember this success (not for revocable tokens,
    #: which must stop working at once)
    cacheable: bool = False
    #: an UNKNOWN that already cost what a wrong password costs here (the chain then runs no
    #: stand-in check for this backend; see AuthenticatorChain)
    checked: bool = False

    @classmethod
    def unknown(cls, *, checked: bool = False) -> AuthResult:
        return _UNKNOWN_CHECKED if checked else _UNKNOWN

    @classmethod
    def denied(cls, reason: str) -> AuthResult:
        return cls(Outcome.DENIED, reason=reason)

    @classmethod
    def success(cls, identity: Identity, *, cacheable: bool) -> AuthResult:
        return cls(Outcome.AUTHENTICATED, identity=identity, cacheable=cacheable)


_UNKNOWN = AuthResult(Outcome.UNKNOWN)
_UNKNOWN_CHECKED = AuthResult(Outcome.UNKNOWN, checked=True)


class Authenticator(Protocol):
    #: short name for logs and the ``method`` of identities it creates
    name: str

    async def refresh(self) -> None:
        """Notice changes to the backing data (cheap; called before every authentication)."""

    async def authenticate(self, username: str, password: Secret) -> AuthResult: ...


class EqualCost(Protocol):
    """A backend whose wrong passwords cost a hash check: it can run a stand-in check of the
    same kind and cost (see :class:`regauth.authn.chain.AuthenticatorChain`)."""

    async def verify_dummy(self, password: Secret) -> bool:
        """Check ``password`` against a stand-in as a real check here would; True when that
        cost anything (a backend with nothing to check returns False)."""
        ...
