"""The authorizer chain: per scope, the first authorizer with an opinion decides."""

from __future__ import annotations

from collections.abc import Sequence

from regauth.authz.base import AccessContext, Authorizer, Decision
from regauth.protocol.scope import Scope

__all__ = ["AuthorizerChain"]


class AuthorizerChain:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self._authorizers = tuple(authorizers)

    async def decide(self, context: AccessContext, scope: Scope) -> Decision:
        for authorizer in self._authorizers:
            decision = await authorizer.authorize(context, scope)
            if decision is not None:
                return decision
        return Decision(
            scope=scope,
            granted=(),
            decided_by="default",
            comment="no rule matched: denied by default",
        )

    async def decide_all(self, context: AccessContext, scopes: Sequence[Scope]) -> list[Decision]:
        return [await self.decide(context, scope) for scope in scopes]
