"""Role grants: a role (pull, push, delete, admin) on a repository pattern for one subject.

The subject is exactly one user, group or robot, everyone (``public``, pull only: anonymous
pull), or everyone signed in (``authenticated``: any user, never a robot or anonymous). The
same role on the same pattern for the same subject twice is a :class:`Conflict`. The role
authorizer reads these rows; this module only writes and lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from regauth.accounts.checks import check_pattern, check_role
from regauth.accounts.errors import Conflict, InvalidInput, NotFound
from regauth.accounts.store_access import (
    StoreAccess,
    find_group,
    find_robot,
    find_user,
    log_change,
)
from regauth.accounts.views import GrantView
from regauth.store.models import Grant, Group, Robot, User

__all__ = ["Grants"]


def _grant_view(session: Session, grant: Grant) -> GrantView:
    subject_type, subject = ("authenticated" if grant.authenticated else "public"), None
    if grant.user_id is not None:
        subject_type = "user"
        subject = session.scalar(select(User.username).where(User.id == grant.user_id))
    elif grant.group_id is not None:
        subject_type = "group"
        subject = session.scalar(select(Group.name).where(Group.id == grant.group_id))
    elif grant.robot_id is not None:
        subject_type = "robot"
        subject = session.scalar(select(Robot.name).where(Robot.id == grant.robot_id))
    return GrantView(
        grant.id,
        subject_type,
        subject,
        grant.pattern,
        grant.role,
        grant.created_at,
        grant.created_by,
    )


def _row_view(row: Sequence[Any]) -> GrantView:
    """A grant read with its subject's name, as :func:`_grant_view` makes it."""
    (
        grant_id,
        user_id,
        group_id,
        robot_id,
        authenticated,
        pattern,
        role,
        created_at,
        created_by,
        username,
        group_name,
        robot_name,
    ) = row
    subject_type, subject = ("authenticated" if authenticated else "public"), None
    if user_id is not None:
        subject_type, subject = "user", username
    elif group_id is not None:
        subject_type, subject = "group", group_name
    elif robot_id is not None:
        subject_type, subject = "robot", robot_name
    return GrantView(grant_id, subject_type, subject, pattern, role, created_at, created_by)


def _same_grant(session: Session, grant: Grant) -> Grant | None:
    """The stored grant of the same role on the same pattern for the same subject, if any."""
    query = select(Grant).where(
        Grant.pattern == grant.pattern,
        Grant.role == grant.role,
        Grant.public == bool(grant.public),
        Grant.authenticated == bool(grant.authenticated),
    )
    for column, value in (
        (Grant.user_id, grant.user_id),
        (Grant.group_id, grant.group_id),
        (Grant.robot_id, grant.robot_id),
    ):
        query = query.where(column.is_(None) if value is None else column == value)
    return session.scalars(query.limit(1)).first()


class Grants(StoreAccess):
    def add_grant(
        self,
        *,
        pattern: str,
        role: str,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
        public: bool = False,
        authenticated: bool = False,
        created_by: str | None = None,
    ) -> GrantView:
        subjects = [s for s in (user, group, robot) if s is not None]
        if len(subjects) + int(public) + int(authenticated) != 1:
            raise InvalidInput(
                "a grant is for exactly one user, group, robot, public, or authenticated"
            )
        check_pattern(pattern)
        check_role(role)
        if public and role != "pull":
            raise InvalidInput("public grants can only be role pull (anonymous pull)")
        with self._db.write() as session:
            grant = Grant(
                pattern=pattern,
                role=role,
                public=public,
                authenticated=authenticated,
                created_at=self._clock(),
                created_by=created_by,
            )
            if user is not None:
                grant.user_id = find_user(session, user).id
            elif group is not None:
                grant.group_id = find_group(session, group).id
            elif robot is not None:
                grant.robot_id = find_robot(session, robot).id
            existing = _same_grant(session, grant)
            if existing is not None:
                view = _grant_view(session, existing)
                who = (
                    view.subject_type
                    if view.subject is None
                    else f"{view.subject_type} {view.subject!r}"
                )
                raise Conflict(
                    f"{who} already has role {role} on {pattern!r} (grant {existing.id})"
                )
            session.add(grant)
            session.flush()
            log_change(session, "grant", [])
            return _grant_view(session, grant)

    def list_grants(
        self,
        *,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
    ) -> list[GrantView]:
        with self._db.read() as session:
            # one query with the subjects' names joined in (a query per grant took a second
            # for 10,000 grants)
            query = (
                select(
                    Grant.id,
                    Grant.user_id,
                    Grant.group_id,
                    Grant.robot_id,
                    Grant.authenticated,
                    Grant.pattern,
                    Grant.role,
                    Grant.created_at,
                    Grant.created_by,
                    User.username,
                    Group.name,
                    Robot.name,
                )
                .outerjoin(User, User.id == Grant.user_id)
                .outerjoin(Group, Group.id == Grant.group_id)
                .outerjoin(Robot, Robot.id == Grant.robot_id)
                .order_by(Grant.id)
            )
            if user is not None:
                query = query.where(Grant.user_id == find_user(session, user).id)
            if group is not None:
                query = query.where(Grant.group_id == find_group(session, group).id)
            if robot is not None:
                query = query.where(Grant.robot_id == find_robot(session, robot).id)
            return [_row_view(row) for row in session.execute(query)]

    def remove_grant(self, grant_id: int) -> None:
        with self._db.write() as session:
            grant = session.get(Grant, grant_id)
            if grant is None:
                raise NotFound(f"no such grant: {grant_id}")
            session.delete(grant)
            log_change(session, "grant", [])
