"""Role grants from the database, as an authorizer after the configuration's ACL.

Grants give ``pull``, ``push`` (with pull), ``delete`` (with pull) or ``admin`` (all three) on
a repository pattern to a user, a group, a robot, the public (anonymous pull), or everyone
signed in (every user, whatever authenticated them; not robots). Built-in:
every user owns ``<username>/*`` (``grants.user_namespaces``), and regauth administrators may
list the catalog. The permitted actions of every matching grant add up; no matching grant is
no opinion (and, at the end of the chain, no access).

The grants live in memory as a snapshot, reloaded when the change log says they changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from regauth.authn.base import Kind
from regauth.authz.base import AccessContext, Decision, grant_actions
from regauth.patterns.linear import Matcher
from regauth.patterns.repository import compile_repository_pattern
from regauth.protocol.scope import Scope
from regauth.store.database import Database
from regauth.store.models import Grant, Group, Robot, User

__all__ = ["ROLE_ACTIONS", "GrantAuthorizer", "GrantRule", "GrantSnapshot", "load_snapshot"]

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "pull": frozenset({"pull"}),
    "push": frozenset({"pull", "push"}),
    "delete": frozenset({"pull", "delete"}),
    "admin": frozenset({"pull", "push", "delete"}),
}
ALL_ACTIONS = ROLE_ACTIONS["admin"]


@dataclass(frozen=True, slots=True)
class GrantRule:
    id: int
    subject_type: str
    subject: str | None
    pattern: str
    role: str
    compiled: Matcher

    @property
    def label(self) -> str:
        return f"grant#{self.id}"

    def describe(self) -> str:
        who = self.subject_type if self.subject is None else f"{self.subject_type} {self.subject}"
        return f"{who}: {self.role} on {self.pattern}"


@dataclass
class GrantSnapshot:
    by_user: dict[str, list[GrantRule]] = field(default_factory=lambda: defaultdict(list))
    by_group: dict[str, list[GrantRule]] = field(default_factory=lambda: defaultdict(list))
    by_robot: dict[str, list[GrantRule]] = field(default_factory=lambda: defaultdict(list))
    public: list[GrantRule] = field(default_factory=list)
    authenticated: list[GrantRule] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            sum(map(len, self.by_user.values()))
            + sum(map(len, self.by_group.values()))
            + sum(map(len, self.by_robot.values()))
            + len(self.public)
            + len(self.authenticated)
        )


def load_snapshot(database: Database) -> GrantSnapshot:
    snapshot = GrantSnapshot()
    with database.read() as session:
        rows = session.execute(
            select(Grant, User.username, Group.name, Robot.name)
            .outerjoin(User, User.id == Grant.user_id)
            .outerjoin(Group, Group.id == Grant.group_id)
            .outerjoin(Robot, Robot.id == Grant.robot_id)
            .order_by(Grant.id)
        )
        for grant, username, group_name, robot_name in rows:
            compiled = compile_repository_pattern(grant.pattern)
            if username is not None:
                rule = GrantRule(grant.id, "user", username, grant.pattern, grant.role, compiled)
                snapshot.by_user[username].append(rule)
            elif group_name is not None:
                rule = GrantRule(grant.id, "group", group_name, grant.pattern, grant.role, compiled)
                snapshot.by_group[group_name].append(rule)
            elif robot_name is not None:
                rule = GrantRule(grant.id, "robot", robot_name, grant.pattern, grant.role, compiled)
                snapshot.by_robot[robot_name].append(rule)
            elif grant.public:
                snapshot.public.append(
                    GrantRule(grant.id, "public", None, grant.pattern, grant.role, compiled)
                )
            elif grant.authenticated:
                snapshot.authenticated.append(
                    GrantRule(grant.id, "authenticated", None, grant.pattern, grant.role, compiled)
                )
    return snapshot


class GrantAuthorizer:
    name = "grants"

    def __init__(
        self,
        snapshot: GrantSnapshot,
        *,
        user_namespaces: bool = True,
        anonymous_pull: bool = True,
    ) -> None:
        self._snapshot = snapshot
        self._user_namespaces = user_namespaces
        self._anonymous_pull = anonymous_pull
        self.generation = 0

    def replace(self, snapshot: GrantSnapshot) -> None:
        self._snapshot = snapshot
        self.generation += 1

    @property
    def snapshot(self) -> GrantSnapshot:
        return self._snapshot

    def _candidates(self, context: AccessContext) -> list[GrantRule]:
        identity = context.identity
        snapshot = self._snapshot
        rules: list[GrantRule] = []
        if identity.kind is Kind.USER:
            rules += snapshot.by_user.get(identity.subject, ())
            rules += snapshot.authenticated
            for group in identity.groups:
                rules += snapshot.by_group.get(group, ())
        elif identity.kind is Kind.ROBOT:
            rules += snapshot.by_robot.get(identity.subject.removeprefix("robot+"), ())
        if self._anonymous_pull:
            rules += snapshot.public
        return rules

    def decide(self, context: AccessContext, scope: Scope) -> Decision | None:
        identity = context.identity
        if scope.type == "registry" and scope.name == "catalog":
            if identity.is_admin and identity.kind is Kind.USER:
                return Decision(
                    scope,
                    grant_actions(scope.actions, None),
                    "admin user",
                    "regauth administrators may list the catalog",
                )
            return None
        if scope.type != "repository":
            return None
        permitted: set[str] = set()
        labels: list[str] = []
        comments: list[str] = []
        for rule in self._candidates(context):
            if rule.compiled.fullmatch(scope.name):
                permitted |= ROLE_ACTIONS[rule.role]
                labels.append(rule.label)
                comments.append(rule.describe())
        if (
            self._user_namespaces
            and identity.kind is Kind.USER
            and identity.subject
            and scope.name.startswith(identity.subject + "/")
        ):
            permitted |= ALL_ACTIONS
            labels.append("namespace")
            comments.append(f"user {identity.subject} owns {identity.subject}/*")
        if not labels:
            return None
        return Decision(
            scope=scope,
            granted=grant_actions(scope.actions, frozenset(permitted)),
            decided_by=", ".join(labels),
            comment="; ".join(comments),
        )

    async def authorize(self, context: AccessContext, scope: Scope) -> Decision | None:
        return self.decide(context, scope)
