"""Users a directory or an identity provider vouches for, and the groups it gives them.

LDAP and OpenID logins call these on every sign-in, so the usual login (nothing changed) only
reads. A user name that belongs to a local user with a password is never taken over, and the
group memberships an administrator made, or another source made, are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from regauth.accounts.checks import check_email, check_group_name, check_username
from regauth.accounts.errors import Conflict
from regauth.accounts.store_access import StoreAccess, find_user, log_change
from regauth.store.models import Group, GroupMember, User

__all__ = ["ExternalUsers"]


class ExternalUsers(StoreAccess):
    def upsert_external_user(
        self, username: str, *, source: str, email: str | None = None
    ) -> tuple[int, bool, bool]:
        """Create or update the row of a user who logged in through LDAP or an OpenID provider.

        Returns (user id, enabled, is_admin). An existing local user with a password is not
        taken over: a Conflict says so (the same name from two sources is refused).
        """
        check_username(username)
        email = check_email(email)
        with self._db.read() as session:
            known = session.scalar(select(User).where(User.username == username))
            if (
                known is not None
                and (known.source == source or known.password_hash is None)
                and (email is None or known.email == email)
            ):
                return known.id, known.enabled, known.is_admin  # the usual login: no write
        now = self._clock()
        try:
            with self._db.write() as session:
                user = session.scalar(select(User).where(User.username == username))
                if user is None:
                    user = User(
                        username=username,
                        email=email,
                        enabled=True,
                        is_admin=False,
                        source=source,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(user)
                    session.flush()
                    log_change(session, "user", [username])
                elif user.source != source and user.password_hash is not None:
                    raise Conflict(
                        f"user {username!r} exists as a {user.source} user with a password"
                    )
                elif email is not None and user.email != email:
                    user.email = email
                    user.updated_at = now
                    log_change(session, "user", [username])
                return user.id, user.enabled, user.is_admin
        except IntegrityError:  # created concurrently by another instance: read it back
            with self._db.read() as session:
                user = find_user(session, username)
                return user.id, user.enabled, user.is_admin

    def sync_external_groups(self, username: str, groups: Sequence[str], source: str) -> None:
        """Make the memberships ``source`` gave the user exactly ``groups`` (SSO logins).

        Memberships an administrator made (source local) or another source made are left
        alone. Nothing is written when nothing changed, which is the usual login.
        """
        for name in groups:
            check_group_name(name)
        wanted = set(groups)
        with self._db.read() as session:
            user = find_user(session, username)
            rows = session.execute(
                select(Group.name, GroupMember.source)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.user_id == user.id)
            ).all()
        member_of = {name for name, _ in rows}
        from_source = {name for name, origin in rows if origin == source}
        if wanted <= member_of and from_source <= wanted:
            return
        with self._db.write() as session:
            user = find_user(session, username)
            current = {
                g.name: (g, m)
                for g, m in session.execute(
                    select(Group, GroupMember)
                    .join(GroupMember, GroupMember.group_id == Group.id)
                    .where(GroupMember.user_id == user.id)
                )
            }
            for name in wanted - current.keys():
                group = session.scalar(select(Group).where(Group.name == name))
                if group is None:
                    group = Group(name=name, source=source, created_at=self._clock())
                    session.add(group)
                    session.flush()
                session.add(GroupMember(group_id=group.id, user_id=user.id, source=source))
            for name, (_group, membership) in current.items():
                if membership.source == source and name not in wanted:
                    session.delete(membership)
            log_change(session, "group", [username])
