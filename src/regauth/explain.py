"""``regauth policy explain``: the decision for each scope, from the same authorizers the
server uses, without a server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from regauth.authn.base import Identity, Kind
from regauth.authn.database import load_user_identity
from regauth.authz.acl import client_address
from regauth.authz.base import AccessContext, Decision, not_understood
from regauth.authz.grants import GrantAuthorizer, load_snapshot
from regauth.config import Config
from regauth.credentials import robot_name_of
from regauth.datadir import DataDir
from regauth.protocol.errors import InvalidRequest
from regauth.protocol.scope import parse_scopes
from regauth.runtime import build_authorizers, grant_authorizer, open_database

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
                    "notes": list(not_understood(d.scope, d.granted)),
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
            lines.extend(f"  why:     {note}" for note in not_understood(d.scope, d.granted))
        if self.account == "" and not any(d.granted for d in self.decisions):
            lines.append(
                "note: an anonymous request granted nothing is answered with 401 and a login prompt"
            )
        return "\n".join(lines)


def _database_identity(
    config: Config, data_dir: DataDir, account: str
) -> tuple[Identity | None, GrantAuthorizer | None]:
    """The account's groups and admin flag, and the grants, from the database if it exists."""
    if config.database.url is None and not (data_dir.path / "regauth.db").exists():
        return None, None
    database = open_database(config, data_dir)
    try:
        grants = grant_authorizer(config, load_snapshot(database))
        identity = None
        if account and robot_name_of(account) is None:
            identity = load_user_identity(database, account, method="explain")
    finally:
        database.dispose()
    return identity, grants


async def explain_scopes(
    config: Config,
    data_dir: DataDir,
    *,
    account: str,
    labels: Mapping[str, Sequence[str]],
    groups: Sequence[str] = (),
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
    stored, grants = _database_identity(config, data_dir, account)
    merged: dict[str, list[str]] = {}
    key: str
    values: Sequence[str]
    static = config.users.get(account) if account else None
    if static is not None:
        for key, values in static.labels.items():
            merged.setdefault(key, []).extend(values)
    if stored is not None:  # a database user's own labels (their groups come next)
        for key, values in stored.labels.items():
            if key != "groups":
                merged.setdefault(key, []).extend(values)
    all_groups = list(stored.labels.get("groups", ()) if stored is not None else ()) + list(groups)
    if all_groups:
        merged.setdefault("groups", []).extend(all_groups)
    for key, values in labels.items():
        merged.setdefault(key, []).extend(values)
    frozen = MappingProxyType({k: tuple(dict.fromkeys(v)) for k, v in merged.items()})
    if not account:
        kind = Kind.ANONYMOUS
    elif robot_name_of(account) is not None:
        kind = Kind.ROBOT
    else:
        kind = Kind.USER
    identity = Identity(
        subject=account,
        method="explain",
        labels=frozen,
        kind=kind,
        groups=tuple(dict.fromkeys(all_groups)),
        is_admin=stored.is_admin if stored is not None else False,
    )
    authorizers, _ = build_authorizers(config, grants)
    context = AccessContext(identity=identity, service=chosen, client_ip=address)
    decisions = await authorizers.decide_all(context, parsed)
    return ExplainReport(account=account, service=chosen, labels=frozen, decisions=decisions)
