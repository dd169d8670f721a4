"""What the account operations return: frozen views of users, groups, grants and credentials.

Views are plain data, never database rows, so a front end can keep them after the transaction
ends. ``as_dict()`` gives the JSON shape the admin API and ``--json`` print (times in ISO 8601
with a ``Z``). :class:`Created` pairs a new credential's view with its secret, shown once.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "Created",
    "GrantView",
    "GroupView",
    "LockoutView",
    "LockoutsCleared",
    "RefreshTokenView",
    "RobotView",
    "TokenView",
    "UserView",
]


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _view_dict(view: Any) -> dict[str, Any]:
    result = {}
    for key, value in asdict(view).items():
        result[key] = _iso(value) if isinstance(value, datetime.datetime) else value
    return result


@dataclass(frozen=True)
class UserView:
    username: str
    email: str | None
    enabled: bool
    is_admin: bool
    source: str
    groups: list[str]
    has_password: bool
    created_at: datetime.datetime
    password_changed_at: datetime.datetime | None
    #: docker_auth-style labels: key -> values
    labels: dict[str, list[str]]

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class GroupView:
    name: str
    description: str | None
    source: str
    members: list[str]

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class GrantView:
    id: int
    subject_type: str  # user, group, robot, public
    subject: str | None
    pattern: str
    role: str
    created_at: datetime.datetime
    created_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class RobotView:
    name: str
    username: str
    description: str | None
    created_at: datetime.datetime
    created_by: str | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    last_used_at: datetime.datetime | None
    grants: list[str]
    #: a federated robot's issuer, audience (None: the configured one) and claim conditions;
    #: None for a robot with a secret
    federated: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class TokenView:
    id: int
    user: str
    name: str
    hint: str
    repositories: list[str] | None
    actions: list[str] | None
    created_at: datetime.datetime
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    last_used_at: datetime.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class RefreshTokenView:
    id: int
    user: str
    client_id: str | None
    created_at: datetime.datetime
    last_used_at: datetime.datetime
    expires_at: datetime.datetime
    revoked_at: datetime.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class LockoutView:
    """A counter of the guessing limits: failed logins of an account from an address
    (``account_address``), of an account from any address (``account``: the lockout), or from
    an address for any account (``address``). ``blocked``: logins it covers are refused until
    ``blocked_until``."""

    kind: str  # account, address, account_address
    account: str | None
    address: str | None
    failures: int
    blocked: bool
    blocked_until: datetime.datetime | None
    first_failure_at: datetime.datetime
    last_failure_at: datetime.datetime

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class LockoutsCleared:
    """What ``clear_lockouts`` lifted: every counter of one account (counted case-folded) or
    one address (an IPv6 one as its /64); ``cleared`` 0 when there was nothing to clear."""

    kind: str  # account or address
    #: what the counters are keyed by: the case-folded account, the address or IPv6 /64
    key: str
    cleared: int
    #: how many of them blocked logins
    were_blocking: int

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


V = TypeVar("V", RobotView, TokenView)


@dataclass(frozen=True)
class Created(Generic[V]):
    """A new credential: the view, and the secret, shown this once."""

    #: None for a credential that has no secret (a federated robot)
    secret: str | None
    view: V

    def as_dict(self) -> dict[str, Any]:
        return {"secret": self.secret, **self.view.as_dict()}
