"""The authorizer chain: per scope, the first authorizer with an opinion decides.

A credential narrowed to some repositories or actions (a personal access token) then takes
away whatever falls outside its limits, whichever authorizer decided.
"""

from __future__ import annotations

from collections.abc import Sequence

from regauth.authz.base import AccessContext, Authorizer, Decision
from regauth.protocol.scope import Scope

__all__ = ["AuthorizerChain"]


class AuthorizerChain:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self._authorizers = tuple(authorizers)

    @property
    def authorizers(self) -> tuple[Authorizer, ...]:
        return self._authorizers

    @property
    def generation(self) -> int:
        """Moves on whenever any authorizer's decisions may have changed."""
        total = 0
        for authorizer in self._authorizers:
            total += authorizer.generation
        return total

    async def decide(self, context: AccessContext, scope: Scope) -> Decision:
        decision = None
        for authorizer in self._authorizers:
            decision = await authorizer.authorize(context, scope)
            if decision is not None:
                break
        if decision is None:
            return Decision(
                scope=scope,
                granted=(),
                decided_by="default",
                comment="no rule matched: denied by default",
            )
        restriction = context.identity.restriction
        if restriction is not None and decision.granted:
            allowed = tuple(a for a in decision.granted if restriction.permits(scope, a))
            if allowed != decision.granted:
                note = restriction.describe()
                decision = Decision(
                    scope=scope,
                    granted=allowed,
                    decided_by=decision.decided_by,
                    comment=f"{decision.comment}; {note}" if decision.comment else note,
                )
        return decision

    async def decide_all(self, context: AccessContext, scopes: Sequence[Scope]) -> list[Decision]:
        return [await self.decide(context, scope) for scope in scopes]
