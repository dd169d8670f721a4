"""Database users: create, read, change (password, email, admin, enabled, labels) and delete.

A changed password or a disabled user loses its refresh tokens in the same transaction. The
last enabled administrator can be neither disabled, demoted nor deleted, so nobody locks
everyone out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regauth.accounts.checks import check_email, check_new_name, check_password, check_username
from regauth.accounts.console_sessions import end_user_sessions
from regauth.accounts.errors import Conflict, InvalidInput
from regauth.accounts.labels import check_labels
from regauth.accounts.refresh_tokens import revoke_user_tokens
from regauth.accounts.store_access import StoreAccess, find_user, log_change
from regauth.accounts.views import UserView
from regauth.clock import Clock
from regauth.credentials.passwords import is_supported_hash
from regauth.store.database import Database
from regauth.store.models import Group, GroupMember, User
from regauth.store.user_labels import labels_of, labels_of_users, replace_labels

__all__ = ["Users"]


def _group_names(session: Session, user_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Group.name)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user_id)
            .order_by(Group.name)
        )
    )


def _user_view(
    user: User, groups: list[str], labels: dict[str, list[str]] | None = None
) -> UserView:
    return UserView(
        username=user.username,
        email=user.email,
        enabled=user.enabled,
        is_admin=user.is_admin,
        source=user.source,
        groups=groups,
        has_password=user.password_hash is not None,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
        labels=labels or {},
    )


def _view(session: Session, user: User) -> UserView:
    return _user_view(user, _group_names(session, user.id), labels_of(session, user.id))


def _refuse_losing_last_admin(session: Session, user: User) -> None:
    """Keep at least one enabled administrator, so nobody locks everyone out."""
    if not (user.is_admin and user.enabled):
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.is_admin.is_(True), User.enabled.is_(True), User.id != user.id)
    )
    if not others:
        raise Conflict(f"{user.username!r} is the last enabled administrator")


class Users(StoreAccess):
    def __init__(
        self, database: Database, clock: Clock, hash_password: Callable[[bytes], str]
    ) -> None:
        super().__init__(database, clock)
        self._hash_password = hash_password

    def create_user(
        self,
        username: str,
        *,
        password: str | None = None,
        password_hash: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        enabled: bool = True,
        source: str = "local",
        labels: Mapping[str, Sequence[str] | str] | None = None,
    ) -> UserView:
        if source == "local":
            check_new_name("username", username)
        check_username(username)
        email = check_email(email)
        checked_labels = check_labels(labels or {})
        if password is not None and password_hash is not None:
            raise InvalidInput("give a password or a password hash, not both")
        if password is not None:
            password_hash = self._hash_password(check_password(password).encode())
        elif password_hash is not None and not is_supported_hash(password_hash):
            raise InvalidInput("the password hash must be bcrypt ($2y$/$2b$) or argon2id")
        now = self._clock()
        try:
            with self._db.write() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise Conflict(f"user {username!r} already exists")
                user = User(
                    username=username,
                    password_hash=password_hash,
                    email=email,
                    enabled=enabled,
                    is_admin=is_admin,
                    source=source,
                    created_at=now,
                    updated_at=now,
                    password_changed_at=now if password_hash else None,
                )
                session.add(user)
                session.flush()
                replace_labels(session, user.id, checked_labels)
                log_change(session, "user", [username])
                return _view(session, user)
        except IntegrityError:
            raise Conflict(f"user {username!r} already exists") from None

    def get_user(self, username: str) -> UserView:
        with self._db.read() as session:
            user = find_user(session, username)
            return _view(session, user)

    def list_users(self) -> list[UserView]:
        with self._db.read() as session:
            # plain rows, not ORM objects: a third of the time for 10,000 users
            users = session.execute(
                select(
                    User.id,
                    User.username,
                    User.email,
                    User.enabled,
                    User.is_admin,
                    User.source,
                    User.password_hash.is_not(None),
                    User.created_at,
                    User.password_changed_at,
                ).order_by(User.username)
            ).all()
            memberships: dict[int, list[str]] = {}
            rows = session.execute(
                select(GroupMember.user_id, Group.name)
                .join(Group, Group.id == GroupMember.group_id)
                .order_by(Group.name)
            )
            for user_id, name in rows:
                memberships.setdefault(user_id, []).append(name)
            labels = labels_of_users(session)
            return [
                UserView(
                    username=username,
                    email=email,
                    enabled=enabled,
                    is_admin=is_admin,
                    source=source,
                    groups=memberships.get(user_id, []),
                    has_password=bool(has_password),
                    created_at=created_at,
                    password_changed_at=changed_at,
                    labels=labels.get(user_id) or {},
                )
                for (
                    user_id,
                    username,
                    email,
                    enabled,
                    is_admin,
                    source,
                    has_password,
                    created_at,
                    changed_at,
                ) in users
            ]

    def count_users(self) -> int:
        with self._db.read() as session:
            return int(session.scalar(select(func.count()).select_from(User)) or 0)

    def set_password(self, username: str, password: str) -> UserView:
        """Change a password; the user's refresh tokens and console sessions stop working."""
        encoded = self._hash_password(check_password(password).encode())
        with self._db.write() as session:
            user = find_user(session, username)
            now = self._clock()
            user.password_hash = encoded
            user.password_changed_at = now
            user.updated_at = now
            revoke_user_tokens(session, user.id, now)
            end_user_sessions(session, user.id, now)
            log_change(session, "user", [username])
            return _view(session, user)

    def rehash_password(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace a verified legacy hash (bcrypt from an import) by an argon2id one."""
        with self._db.write() as session:
            session.execute(
                update(User)
                .where(User.username == username, User.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

    def set_enabled(self, username: str, enabled: bool) -> UserView:
        """Enable or disable; disabling also ends the user's refresh tokens and console sessions."""
        with self._db.write() as session:
            user = find_user(session, username)
            if not enabled:
                _refuse_losing_last_admin(session, user)
            user.enabled = enabled
            user.updated_at = self._clock()
            if not enabled:
                revoke_user_tokens(session, user.id, self._clock())
                end_user_sessions(session, user.id, self._clock())
            log_change(session, "user", [username])
            return _view(session, user)

    def update_user(
        self,
        username: str,
        *,
        email: str | None = None,
        is_admin: bool | None = None,
        enabled: bool | None = None,
        labels: Mapping[str, Sequence[str] | str] | None = None,
    ) -> UserView:
        """Change several attributes in one transaction (``email=""`` clears the email;
        ``labels`` replaces every label)."""
        checked_labels = check_labels(labels) if labels is not None else None
        with self._db.write() as session:
            user = find_user(session, username)
            if checked_labels is not None:
                replace_labels(session, user.id, checked_labels)
            if email is not None:
                user.email = check_email(email)
            if (is_admin is False or enabled is False) and user.is_admin:
                _refuse_losing_last_admin(session, user)
            if is_admin is not None:
                user.is_admin = is_admin
            if enabled is not None:
                user.enabled = enabled
                if not enabled:
                    revoke_user_tokens(session, user.id, self._clock())
                    end_user_sessions(session, user.id, self._clock())
            user.updated_at = self._clock()
            log_change(session, "user", [username])
            return _view(session, user)

    def delete_user(self, username: str) -> None:
        with self._db.write() as session:
            user = find_user(session, username)
            _refuse_losing_last_admin(session, user)
            session.delete(user)
            log_change(session, "user", [username])
