"""``regauth policy explain``: the decision for each scope, from the same authorizers the
server uses, without a server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from regauth.authn.base import Identity
from regauth.authz.acl import client_address
from regauth.authz.base import AccessContext, Decision
from regauth.config import Config
from regauth.protocol.errors import InvalidRequest
from regauth.protocol.scope import parse_scopes
from regauth.runtime import build_authorizers

__all__ = ["ExplainReport", "explain_scopes"]


@dataclass(frozen=True)
class ExplainReport:
    account: str
    service: str
    labels: Mapping[str, tuple[str, ...]]
    decisions: Sequence[Decision]

    @property
    def all_granted(self) -> bool:
        return all(not d.denied for d in self.decisions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "service": self.service,
            "labels": {k: list(v) for k, v in self.labels.items()},
            "all_granted": self.all_granted,
            "scopes": [
                {
                    "scope": str(d.scope),
                    "granted": list(d.granted),
                    "denied": list(d.denied),
                    "decided_by": d.decided_by,
                    "comment": d.comment,
                }
                for d in self.decisions
            ],
        }

    def render(self) -> str:
        who = repr(self.account) if self.account else '"" (anonymous)'
        lines = [f"account {who} on service {self.service!r}"]
        for d in self.decisions:
            lines.append(f"{d.scope}")
            lines.append(f"  granted: {', '.join(d.granted) or '-'}")
            lines.append(f"  denied:  {', '.join(d.denied) or '-'}")
            comment = f'  "{d.comment}"' if d.comment else ""
            lines.append(f"  rule:    {d.decided_by}{comment}")
        if self.account == "" and not any(d.granted for d in self.decisions):
            lines.append(
                "note: an anonymous request granted nothing is answered with 401 and a login prompt"
            )
        return "\n".join(lines)


async def explain_scopes(
    config: Config,
    *,
    account: str,
    labels: Mapping[str, Sequence[str]],
    service: str | None,
    client_ip: str | None,
    scopes: Sequence[str],
) -> ExplainReport:
    parsed = parse_scopes(scopes)
    if not parsed:
        raise InvalidRequest("no scope given")
    chosen = service or config.token.service[0]
    if chosen not in config.token.service:
        raise InvalidRequest(f"unknown service {chosen!r}: configured are {config.token.service}")
    address = None
    if client_ip is not None:
        address = client_address(client_ip)
        if address is None:
            raise InvalidRequest(f"--ip: not an IP address: {client_ip!r}")
    merged: dict[str, list[str]] = {}
    key: str
    values: Sequence[str]
    static = config.users.get(account) if account else None
    if static is not None:
        for key, values in static.labels.items():
            merged.setdefault(key, []).extend(values)
    for key, values in labels.items():
        merged.setdefault(key, []).extend(values)
    frozen = MappingProxyType({k: tuple(v) for k, v in merged.items()})
    identity = Identity(subject=account, method="explain", labels=frozen)
    authorizers, _ = build_authorizers(config)
    context = AccessContext(identity=identity, service=chosen, client_ip=address)
    decisions = await authorizers.decide_all(context, parsed)
    return ExplainReport(account=account, service=chosen, labels=frozen, decisions=decisions)
