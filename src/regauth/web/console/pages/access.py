"""``GET /access``, "What may I do": the person's groups, labels, the grants that apply to them,
and a form that explains a scope for them.

The grants are the ones the token endpoint decides with (the role authorizer's snapshot, brought
up to date first): the person's own, their groups', the public ones while anonymous pull is on,
and the built-in ``<username>/*`` namespace. The explain form (``?scope=...&service=...``) asks
the same authorizer chain as the token endpoint, with the person's identity and address, and
shows what ``regauth policy explain`` shows: granted, denied, the deciding rule and its comment.
A bare repository name stands for ``repository:NAME:pull,push,delete``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.authz.base import AccessContext, Decision, not_understood
from regauth.authz.grants import ROLE_ACTIONS, GrantRule
from regauth.protocol.errors import InvalidRequest
from regauth.protocol.scope import Scope, parse_scopes
from regauth.web.console.context import Console, Viewer
from regauth.web.console.tables import table

__all__ = ["AppliedGrant", "Explained", "routes", "scopes_from_text"]

#: what a bare repository name in the explain form asks for
ALL_REPOSITORY_ACTIONS = "pull,push,delete"
MAX_SCOPE_TEXT = 4000


@dataclass(frozen=True)
class AppliedGrant:
    """A grant that applies to the person, and why: "you", "group devs", "everyone"."""

    via: str
    pattern: str
    role: str
    rule: str

    @property
    def actions(self) -> str:
        return ", ".join(a for a in ("pull", "push", "delete") if a in ROLE_ACTIONS[self.role])


@dataclass(frozen=True)
class Explained:
    decision: Decision
    notes: tuple[str, ...]


def scopes_from_text(text: str) -> tuple[Scope, ...]:
    """Scopes separated by spaces or lines; a bare repository name asks for every action."""
    items = []
    for item in text.split():
        items.append(item if ":" in item else f"repository:{item}:{ALL_REPOSITORY_ACTIONS}")
    return parse_scopes(items)


def _applied(rule: GrantRule, via: str) -> AppliedGrant:
    return AppliedGrant(via, rule.pattern, rule.role, rule.label)


def routes(console: Console) -> list[BaseRoute]:
    columns: dict[str, Callable[[AppliedGrant], Any]] = {
        "pattern": lambda g: g.pattern,
        "role": lambda g: g.role,
        "via": lambda g: g.via,
    }

    def applying(viewer: Viewer) -> list[AppliedGrant]:
        settings = console.runtime.config.grants
        snapshot = console.runtime.grants.snapshot
        identity = viewer.identity
        found = [_applied(r, "you") for r in snapshot.by_user.get(identity.subject, ())]
        for group in identity.groups:
            found += [_applied(r, f"group {group}") for r in snapshot.by_group.get(group, ())]
        if settings.anonymous_pull:
            found += [_applied(r, "everyone") for r in snapshot.public]
        if settings.user_namespaces:
            own = f"{identity.subject}/*"
            found.append(AppliedGrant("you (built in)", own, "admin", "namespace"))
        return found

    async def explain(
        viewer: Viewer, request: Request, scopes: Sequence[Scope], service: str
    ) -> list[Explained]:
        peer = request.client.host if request.client else None
        context = AccessContext(
            identity=viewer.identity,
            service=service,
            client_ip=console.addresses.resolve(peer, request.headers),
        )
        chain = console.runtime.service.authorizers
        results = []
        for scope in scopes:
            decision = await chain.decide(context, scope)
            results.append(Explained(decision, not_understood(scope, decision.granted)))
        return results

    async def page(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.runtime.service.catch_up()  # grants changed elsewhere count
        services = list(console.runtime.config.token.service)
        query = request.query_params
        scope_text = query.get("scope", "")[:MAX_SCOPE_TEXT]
        service = query.get("service", "") or services[0]
        errors: dict[str, str] = {}
        results: list[Explained] = []
        if scope_text.strip():
            if service not in services:
                errors["service"] = "Choose one of the services listed."
            try:
                scopes = scopes_from_text(scope_text)
            except InvalidRequest as exc:
                errors["scope"] = exc.message
            if not errors:
                results = await explain(viewer, request, scopes, service)
        elif "scope" in query:
            errors["scope"] = "Enter a repository name or a scope."
        labels = {k: v for k, v in viewer.identity.labels.items() if k != "groups"}
        return console.render(
            request,
            "access.html",
            viewer=viewer,
            status=400 if errors else 200,
            active="access",
            groups=viewer.identity.groups,
            labels=sorted(labels.items()),
            grants=table(applying(viewer), query, columns, default="pattern"),
            has_acl=bool(console.runtime.config.acl),
            services=[(s, s) for s in services],
            service=service,
            scope_text=scope_text,
            errors=errors,
            results=results,
            client_address=console.client_address(request) or "",
        )

    return [Route(console.route("/access"), page, methods=["GET", "HEAD"])]
