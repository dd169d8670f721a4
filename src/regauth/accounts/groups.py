"""Groups and their members, as administrators make them.

Memberships made here have source ``local``; the ones a directory or provider gives at login
are kept by :mod:`regauth.accounts.external`, which leaves these alone.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regauth.accounts.checks import check_description, check_group_name, check_new_name
from regauth.accounts.errors import Conflict, NotFound
from regauth.accounts.store_access import StoreAccess, find_group, find_user, log_change
from regauth.accounts.views import GroupView
from regauth.store.models import Group, GroupMember, User

__all__ = ["Groups"]


def _members(session: Session, group_id: int) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == group_id)
            .order_by(User.username)
        )
    )


def _group_view(session: Session, group: Group) -> GroupView:
    return GroupView(group.name, group.description, group.source, _members(session, group.id))


class Groups(StoreAccess):
    def create_group(
        self, name: str, *, description: str | None = None, source: str = "local"
    ) -> GroupView:
        if source == "local":
            check_new_name("group name", name)
        check_group_name(name)
        check_description(description)
        try:
            with self._db.write() as session:
                if session.scalar(select(Group.id).where(Group.name == name)):
                    raise Conflict(f"group {name!r} already exists")
                session.add(
                    Group(
                        name=name, description=description, source=source, created_at=self._clock()
                    )
                )
                log_change(session, "group", [])
                return GroupView(name, description, source, [])
        except IntegrityError:
            raise Conflict(f"group {name!r} already exists") from None

    def list_groups(self) -> list[GroupView]:
        with self._db.read() as session:
            groups = session.scalars(select(Group).order_by(Group.name)).all()
            return [_group_view(session, g) for g in groups]

    def get_group(self, name: str) -> GroupView:
        with self._db.read() as session:
            return _group_view(session, find_group(session, name))

    def delete_group(self, name: str) -> None:
        with self._db.write() as session:
            group = find_group(session, name)
            members = _members(session, group.id)
            session.delete(group)
            log_change(session, "group", members)

    def add_member(self, group_name: str, username: str) -> GroupView:
        with self._db.write() as session:
            group = find_group(session, group_name)
            user = find_user(session, username)
            exists = session.get(GroupMember, (group.id, user.id))
            if exists is None:
                session.add(GroupMember(group_id=group.id, user_id=user.id, source="local"))
                log_change(session, "group", [username])
            session.flush()
            return _group_view(session, group)

    def remove_member(self, group_name: str, username: str) -> GroupView:
        with self._db.write() as session:
            group = find_group(session, group_name)
            user = find_user(session, username)
            member = session.get(GroupMember, (group.id, user.id))
            if member is None:
                raise NotFound(f"user {username!r} is not a member of group {group_name!r}")
            session.delete(member)
            log_change(session, "group", [username])
            session.flush()
            return _group_view(session, group)
