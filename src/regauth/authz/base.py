"""The contract every authorizer fulfils.

For one requested scope an authorizer returns a :class:`Decision` (possibly granting nothing,
which also stops the chain) or ``None``: no opinion, ask the next one. Nothing is granted by
default.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

from regauth.authn.base import Identity
from regauth.protocol.scope import Scope

__all__ = ["AccessContext", "Authorizer", "Decision", "grant_actions"]

IpAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class AccessContext:
    """What is known about the request beyond the scope itself."""

    identity: Identity
    service: str
    client_ip: IpAddress | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    scope: Scope
    granted: tuple[str, ...]
    #: which rule or grant decided, e.g. "acl[3]"; "default" when nothing matched
    decided_by: str
    comment: str | None = None

    @property
    def denied(self) -> tuple[str, ...]:
        return tuple(a for a in self.scope.actions if a not in self.granted)

    def describe(self) -> str:
        return f"{self.decided_by} ({self.comment})" if self.comment else self.decided_by


def grant_actions(requested: tuple[str, ...], permitted: frozenset[str] | None) -> tuple[str, ...]:
    """requested ∩ permitted; ``None`` (a ``"*"`` rule) permits whatever was requested.

    A requested ``"*"`` is only granted by a ``"*"`` rule, as in docker_auth: a rule listing
    pull and push does not confer every action.
    """
    if permitted is None:
        return requested
    return tuple(a for a in requested if a in permitted)


class Authorizer(Protocol):
    name: str
    #: moves on whenever the authorizer's decisions may have changed (grants reloaded)
    generation: int

    async def authorize(self, context: AccessContext, scope: Scope) -> Decision | None: ...
