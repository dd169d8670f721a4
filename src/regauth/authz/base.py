"""The contract every authorizer fulfils.

For one requested scope an authorizer returns a :class:`Decision` (possibly granting nothing,
which also stops the chain) or ``None``: no opinion, ask the next one. Nothing is granted by
default.

Grant nothing that is not understood (the Distribution token spec's "Token Scope
Documentation"): the resource types regauth knows are ``repository`` (any class, such as
``repository(plugin)``) and ``registry``, the actions ``pull``, ``push``, ``delete`` and
``*``. Anything else (``foo:bar:pull``, ``repository:x:frob``) is granted only by an ACL rule
that names it: ``match.type: foo`` for a type, ``actions: [frob]`` for an action (the
configuration accepts other actions only in a rule naming another type). ``"*"`` never stands
for them, and role grants never give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

from regauth.authn.base import Identity
from regauth.protocol.scope import Scope

__all__ = [
    "KNOWN_ACTIONS",
    "KNOWN_TYPES",
    "AccessContext",
    "Authorizer",
    "Decision",
    "grant_actions",
    "not_understood",
]

IpAddress = IPv4Address | IPv6Address

#: the resource types of the Distribution token spec (a resource class leaves the type as is)
KNOWN_TYPES = frozenset({"repository", "registry"})
#: the actions of the spec (``*`` is what ``registry:catalog:*`` asks for)
KNOWN_ACTIONS = frozenset({"pull", "push", "delete", "*"})


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


def grant_actions(
    requested: tuple[str, ...],
    permitted: frozenset[str] | None,
    named: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """requested ∩ permitted; ``None`` (a ``"*"`` rule) permits every known action that was
    requested, and those of the others that the rule ``named`` explicitly.

    A requested ``"*"`` is only granted by a ``"*"`` rule, as in docker_auth: a rule listing
    pull and push does not confer every action. An unknown action (``frob``) is granted only
    when named: a list permits exactly what it lists, and ``"*"`` never stands for it.
    """
    if permitted is None:
        return tuple(a for a in requested if a in KNOWN_ACTIONS or a in named)
    return tuple(a for a in requested if a in permitted)


def not_understood(scope: Scope, granted: tuple[str, ...]) -> tuple[str, ...]:
    """Why a scope's unknown type or actions went ungranted, one sentence each (for
    ``policy explain``): empty when everything asked for is a known type and action, or was
    granted all the same by a rule that names it."""
    notes: list[str] = []
    if scope.type not in KNOWN_TYPES and not granted:
        notes.append(
            f"unknown resource type {scope.type}: granted only by an ACL rule that names it "
            f"(match.type: {scope.type})"
        )
    for action in scope.actions:
        if action not in KNOWN_ACTIONS and action not in granted:
            notes.append(f"unknown action {action}: granted only by a rule that names it")
    return tuple(notes)


class Authorizer(Protocol):
    name: str
    #: moves on whenever the authorizer's decisions may have changed (grants reloaded)
    generation: int

    async def authorize(self, context: AccessContext, scope: Scope) -> Decision | None: ...
