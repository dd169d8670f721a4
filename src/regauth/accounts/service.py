"""The account service: the one door to administration, as the CLI and the admin API use it.

Every operation validates its input, writes in one transaction, and appends to the change log
in that same transaction so every process and instance drops cached credentials and reloads
grants within a second. Neither front end touches the store directly.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regauth.accounts.checks import (
    ACTIONS,
    check_description,
    check_email,
    check_expiry,
    check_group_name,
    check_password,
    check_pattern,
    check_robot_name,
    check_role,
    check_token_name,
    check_username,
)
from regauth.accounts.errors import Conflict, InvalidInput, NotFound
from regauth.accounts.views import (
    Created,
    GrantView,
    GroupView,
    RefreshTokenView,
    RobotView,
    TokenView,
    UserView,
)
from regauth.authn.passwords import hash_password_argon2, is_supported_hash
from regauth.clock import utcnow
from regauth.credentials import (
    PAT_PREFIX,
    ROBOT_PREFIX,
    ROBOT_USER_PREFIX,
    hint,
    new_secret,
    secret_hash,
)
from regauth.store.database import CHANGED, Database
from regauth.store.models import (
    ChangeLog,
    Grant,
    Group,
    GroupMember,
    PersonalAccessToken,
    RefreshToken,
    Robot,
    User,
)

__all__ = ["AccountService"]


class AccountService:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime.datetime] = utcnow,
        hash_password: Callable[[bytes], str] = hash_password_argon2,
    ) -> None:
        self._db = database
        self._clock = clock
        self._hash_password = hash_password

    @property
    def database(self) -> Database:
        return self._db

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _log(session: Session, kind: str, subjects: Iterable[str] = ()) -> None:
        session.add(ChangeLog(kind=kind, subject=" ".join(subjects) or None, at=utcnow()))
        session.info[CHANGED] = True

    @staticmethod
    def _user(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no such user: {username[:128]!r}")
        return user

    @staticmethod
    def _group(session: Session, name: str) -> Group:
        group = session.scalar(select(Group).where(Group.name == name))
        if group is None:
            raise NotFound(f"no such group: {name[:128]!r}")
        return group

    @staticmethod
    def _robot(session: Session, name: str) -> Robot:
        robot = session.scalar(select(Robot).where(Robot.name == name))
        if robot is None:
            raise NotFound(f"no such robot: {name[:128]!r}")
        return robot

    @staticmethod
    def _group_names(session: Session, user_id: int) -> list[str]:
        return list(
            session.scalars(
                select(Group.name)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.user_id == user_id)
                .order_by(Group.name)
            )
        )

    def _user_view(self, session: Session, user: User) -> UserView:
        return UserView(
            username=user.username,
            email=user.email,
            enabled=user.enabled,
            is_admin=user.is_admin,
            source=user.source,
            groups=self._group_names(session, user.id),
            has_password=user.password_hash is not None,
            created_at=user.created_at,
            password_changed_at=user.password_changed_at,
        )

    # ------------------------------------------------------------------- users

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
    ) -> UserView:
        check_username(username)
        email = check_email(email)
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
                self._log(session, "user", [username])
                return self._user_view(session, user)
        except IntegrityError:
            raise Conflict(f"user {username!r} already exists") from None

    def get_user(self, username: str) -> UserView:
        with self._db.read() as session:
            return self._user_view(session, self._user(session, username))

    def list_users(self) -> list[UserView]:
        with self._db.read() as session:
            users = session.scalars(select(User).order_by(User.username)).all()
            memberships: dict[int, list[str]] = {}
            rows = session.execute(
                select(GroupMember.user_id, Group.name)
                .join(Group, Group.id == GroupMember.group_id)
                .order_by(Group.name)
            )
            for user_id, name in rows:
                memberships.setdefault(user_id, []).append(name)
            return [
                UserView(
                    username=u.username,
                    email=u.email,
                    enabled=u.enabled,
                    is_admin=u.is_admin,
                    source=u.source,
                    groups=memberships.get(u.id, []),
                    has_password=u.password_hash is not None,
                    created_at=u.created_at,
                    password_changed_at=u.password_changed_at,
                )
                for u in users
            ]

    def _revoke_refresh_tokens(self, session: Session, user_id: int) -> int:
        result = session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=self._clock())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def set_password(self, username: str, password: str) -> UserView:
        """Change a password; the user's refresh tokens stop working."""
        encoded = self._hash_password(check_password(password).encode())
        with self._db.write() as session:
            user = self._user(session, username)
            now = self._clock()
            user.password_hash = encoded
            user.password_changed_at = now
            user.updated_at = now
            self._revoke_refresh_tokens(session, user.id)
            self._log(session, "user", [username])
            return self._user_view(session, user)

    def rehash_password(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace a verified legacy hash (bcrypt from an import) by an argon2id one."""
        with self._db.write() as session:
            session.execute(
                update(User)
                .where(User.username == username, User.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

    @staticmethod
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

    def set_enabled(self, username: str, enabled: bool) -> UserView:
        """Enable or disable; disabling also revokes the user's refresh tokens."""
        with self._db.write() as session:
            user = self._user(session, username)
            if not enabled:
                self._refuse_losing_last_admin(session, user)
            user.enabled = enabled
            user.updated_at = self._clock()
            if not enabled:
                self._revoke_refresh_tokens(session, user.id)
            self._log(session, "user", [username])
            return self._user_view(session, user)

    def update_user(
        self,
        username: str,
        *,
        email: str | None = None,
        is_admin: bool | None = None,
        enabled: bool | None = None,
    ) -> UserView:
        """Change several attributes in one transaction (``email=""`` clears the email)."""
        with self._db.write() as session:
            user = self._user(session, username)
            if email is not None:
                user.email = check_email(email)
            if (is_admin is False or enabled is False) and user.is_admin:
                self._refuse_losing_last_admin(session, user)
            if is_admin is not None:
                user.is_admin = is_admin
            if enabled is not None:
                user.enabled = enabled
                if not enabled:
                    self._revoke_refresh_tokens(session, user.id)
            user.updated_at = self._clock()
            self._log(session, "user", [username])
            return self._user_view(session, user)

    def delete_user(self, username: str) -> None:
        with self._db.write() as session:
            user = self._user(session, username)
            self._refuse_losing_last_admin(session, user)
            session.delete(user)
            self._log(session, "user", [username])

    def import_users(
        self, entries: Sequence[tuple[str, str]], *, source: str = "local", replace: bool = False
    ) -> tuple[list[str], list[str]]:
        """Import (username, bcrypt or argon2id hash) pairs in one transaction.

        Existing users are skipped (or get the new hash with ``replace``); every entry is
        validated before anything is written, so a bad line changes nothing.
        """
        seen: set[str] = set()
        for username, encoded in entries:
            check_username(username)
            if username in seen:
                raise InvalidInput(f"user {username!r} appears more than once")
            seen.add(username)
            if not is_supported_hash(encoded):
                raise InvalidInput(
                    f"user {username!r}: unsupported password hash (bcrypt or argon2id only)"
                )
        created: list[str] = []
        skipped: list[str] = []
        now = self._clock()
        with self._db.write() as session:
            existing = {
                u.username: u
                for u in session.scalars(
                    select(User).where(User.username.in_([e[0] for e in entries]))
                )
            }
            for username, encoded in entries:
                if username in existing:
                    if replace:
                        existing[username].password_hash = encoded
                        existing[username].password_changed_at = now
                        self._revoke_refresh_tokens(session, existing[username].id)
                        created.append(username)
                    else:
                        skipped.append(username)
                    continue
                user = User(
                    username=username,
                    password_hash=encoded,
                    enabled=True,
                    is_admin=False,
                    source=source,
                    created_at=now,
                    updated_at=now,
                    password_changed_at=now,
                )
                session.add(user)
                existing[username] = user
                created.append(username)
            self._log(session, "user", created)
        return created, skipped

    # ------------------------------------------------------------------ groups

    def create_group(
        self, name: str, *, description: str | None = None, source: str = "local"
    ) -> GroupView:
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
                self._log(session, "group", [])
                return GroupView(name, description, source, [])
        except IntegrityError:
            raise Conflict(f"group {name!r} already exists") from None

    def _members(self, session: Session, group_id: int) -> list[str]:
        return list(
            session.scalars(
                select(User.username)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == group_id)
                .order_by(User.username)
            )
        )

    def list_groups(self) -> list[GroupView]:
        with self._db.read() as session:
            groups = session.scalars(select(Group).order_by(Group.name)).all()
            return [
                GroupView(g.name, g.description, g.source, self._members(session, g.id))
                for g in groups
            ]

    def get_group(self, name: str) -> GroupView:
        with self._db.read() as session:
            group = self._group(session, name)
            return GroupView(
                group.name, group.description, group.source, self._members(session, group.id)
            )

    def delete_group(self, name: str) -> None:
        with self._db.write() as session:
            group = self._group(session, name)
            members = self._members(session, group.id)
            session.delete(group)
            self._log(session, "group", members)

    def add_member(self, group_name: str, username: str) -> GroupView:
        with self._db.write() as session:
            group = self._group(session, group_name)
            user = self._user(session, username)
            exists = session.get(GroupMember, (group.id, user.id))
            if exists is None:
                session.add(GroupMember(group_id=group.id, user_id=user.id, source="local"))
                self._log(session, "group", [username])
            session.flush()
            return GroupView(
                group.name, group.description, group.source, self._members(session, group.id)
            )

    def remove_member(self, group_name: str, username: str) -> GroupView:
        with self._db.write() as session:
            group = self._group(session, group_name)
            user = self._user(session, username)
            member = session.get(GroupMember, (group.id, user.id))
            if member is None:
                raise NotFound(f"user {username!r} is not a member of group {group_name!r}")
            session.delete(member)
            self._log(session, "group", [username])
            session.flush()
            return GroupView(
                group.name, group.description, group.source, self._members(session, group.id)
            )

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
                    self._log(session, "user", [username])
                elif user.source != source and user.password_hash is not None:
                    raise Conflict(
                        f"user {username!r} exists as a {user.source} user with a password"
                    )
                elif email is not None and user.email != email:
                    user.email = email
                    user.updated_at = now
                    self._log(session, "user", [username])
                return user.id, user.enabled, user.is_admin
        except IntegrityError:  # created concurrently by another instance: read it back
            with self._db.read() as session:
                user = self._user(session, username)
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
            user = self._user(session, username)
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
            user = self._user(session, username)
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
            self._log(session, "group", [username])

    # ------------------------------------------------------------------ grants

    def add_grant(
        self,
        *,
        pattern: str,
        role: str,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
        public: bool = False,
        created_by: str | None = None,
    ) -> GrantView:
        subjects = [s for s in (user, group, robot) if s is not None]
        if len(subjects) + int(public) != 1:
            raise InvalidInput("a grant is for exactly one user, group, robot, or public")
        check_pattern(pattern)
        check_role(role)
        if public and role != "pull":
            raise InvalidInput("public grants can only be role pull (anonymous pull)")
        with self._db.write() as session:
            grant = Grant(
                pattern=pattern,
                role=role,
                public=public,
                created_at=self._clock(),
                created_by=created_by,
            )
            if user is not None:
                grant.user_id = self._user(session, user).id
            elif group is not None:
                grant.group_id = self._group(session, group).id
            elif robot is not None:
                grant.robot_id = self._robot(session, robot).id
            session.add(grant)
            session.flush()
            self._log(session, "grant", [])
            return self._grant_view(session, grant)

    def _grant_view(self, session: Session, grant: Grant) -> GrantView:
        subject_type, subject = "public", None
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

    def list_grants(
        self,
        *,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
    ) -> list[GrantView]:
        with self._db.read() as session:
            query = select(Grant).order_by(Grant.id)
            if user is not None:
                query = query.where(Grant.user_id == self._user(session, user).id)
            if group is not None:
                query = query.where(Grant.group_id == self._group(session, group).id)
            if robot is not None:
                query = query.where(Grant.robot_id == self._robot(session, robot).id)
            return [self._grant_view(session, g) for g in session.scalars(query)]

    def remove_grant(self, grant_id: int) -> None:
        with self._db.write() as session:
            grant = session.get(Grant, grant_id)
            if grant is None:
                raise NotFound(f"no such grant: {grant_id}")
            session.delete(grant)
            self._log(session, "grant", [])

    # ------------------------------------------------------------------ robots

    def _robot_view(self, session: Session, robot: Robot) -> RobotView:
        grants = [
            f"{g.role} on {g.pattern}"
            for g in session.scalars(select(Grant).where(Grant.robot_id == robot.id))
        ]
        return RobotView(
            name=robot.name,
            username=ROBOT_USER_PREFIX + robot.name,
            description=robot.description,
            created_at=robot.created_at,
            created_by=robot.created_by,
            expires_at=robot.expires_at,
            revoked_at=robot.revoked_at,
            last_used_at=robot.last_used_at,
            grants=grants,
        )

    def create_robot(
        self,
        name: str,
        *,
        description: str | None = None,
        expires_at: datetime.datetime | None = None,
        grants: Sequence[tuple[str, str]] = (),
        created_by: str | None = None,
    ) -> Created[RobotView]:
        """A robot account with its own grants; the secret is returned this once."""
        check_robot_name(name)
        check_description(description)
        now = self._clock()
        check_expiry(expires_at, now)
        for pattern, role in grants:
            check_pattern(pattern)
            check_role(role)
        secret = new_secret(ROBOT_PREFIX)
        try:
            with self._db.write() as session:
                if session.scalar(select(Robot.id).where(Robot.name == name)):
                    raise Conflict(f"robot {name!r} already exists")
                robot = Robot(
                    name=name,
                    description=description,
                    secret_hash=secret_hash(secret),
                    created_at=now,
                    created_by=created_by,
                    expires_at=expires_at,
                )
                session.add(robot)
                session.flush()
                for pattern, role in grants:
                    session.add(
                        Grant(
                            robot_id=robot.id,
                            pattern=pattern,
                            role=role,
                            public=False,
                            created_at=now,
                            created_by=created_by,
                        )
                    )
                session.flush()
                self._log(session, "robot", [ROBOT_USER_PREFIX + name])
                return Created(secret, self._robot_view(session, robot))
        except IntegrityError:
            raise Conflict(f"robot {name!r} already exists") from None

    def list_robots(self) -> list[RobotView]:
        with self._db.read() as session:
            return [
                self._robot_view(session, r)
                for r in session.scalars(select(Robot).order_by(Robot.name))
            ]

    def revoke_robot(self, name: str) -> RobotView:
        with self._db.write() as session:
            robot = self._robot(session, name)
            if robot.revoked_at is None:
                robot.revoked_at = self._clock()
            self._log(session, "robot", [ROBOT_USER_PREFIX + name])
            return self._robot_view(session, robot)

    def delete_robot(self, name: str) -> None:
        with self._db.write() as session:
            session.delete(self._robot(session, name))
            self._log(session, "robot", [ROBOT_USER_PREFIX + name])

    # -------------------------------------------------- personal access tokens

    def _token_view(self, token: PersonalAccessToken, username: str) -> TokenView:
        return TokenView(
            id=token.id,
            user=username,
            name=token.name,
            hint=token.hint,
            repositories=json.loads(token.repositories) if token.repositories else None,
            actions=json.loads(token.actions) if token.actions else None,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )

    def create_token(
        self,
        username: str,
        name: str,
        *,
        expires_at: datetime.datetime | None = None,
        repositories: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
    ) -> Created[TokenView]:
        """A personal access token, usable as the docker password; shown this once."""
        check_token_name(name)
        now = self._clock()
        check_expiry(expires_at, now)
        if repositories is not None:
            if not repositories:
                raise InvalidInput("a repository limit needs at least one pattern")
            for pattern in repositories:
                check_pattern(pattern)
        if actions is not None:
            for action in actions:
                if action not in ACTIONS:
                    raise InvalidInput(f"invalid action {action[:40]!r}: use {', '.join(ACTIONS)}")
            if not actions:
                raise InvalidInput("an action limit needs at least one action")
        secret = new_secret(PAT_PREFIX)
        with self._db.write() as session:
            user = self._user(session, username)
            token = PersonalAccessToken(
                user_id=user.id,
                name=name,
                token_hash=secret_hash(secret),
                hint=hint(secret),
                repositories=json.dumps(list(repositories)) if repositories is not None else None,
                actions=json.dumps(sorted(set(actions))) if actions is not None else None,
                created_at=now,
                expires_at=expires_at,
            )
            session.add(token)
            session.flush()
            self._log(session, "token", [username])
            return Created(secret, self._token_view(token, username))

    def list_tokens(self, username: str | None = None) -> list[TokenView]:
        with self._db.read() as session:
            query = (
                select(PersonalAccessToken, User.username)
                .join(User, User.id == PersonalAccessToken.user_id)
                .order_by(PersonalAccessToken.id)
            )
            if username is not None:
                query = query.where(User.id == self._user(session, username).id)
            return [self._token_view(t, u) for t, u in session.execute(query)]

    def revoke_token(self, token_id: int, *, username: str | None = None) -> TokenView:
        """Revoke a token; with ``username``, only if it belongs to that user."""
        with self._db.write() as session:
            row = session.execute(
                select(PersonalAccessToken, User.username)
                .join(User, User.id == PersonalAccessToken.user_id)
                .where(PersonalAccessToken.id == token_id)
            ).first()
            if row is None or (username is not None and row[1] != username):
                raise NotFound(f"no such token: {token_id}")
            token, owner = row
            if token.revoked_at is None:
                token.revoked_at = self._clock()
            self._log(session, "token", [owner])
            return self._token_view(token, owner)

    # ---------------------------------------------------------- refresh tokens

    def list_refresh_tokens(self, username: str | None = None) -> list[RefreshTokenView]:
        with self._db.read() as session:
            query = (
                select(RefreshToken, User.username)
                .join(User, User.id == RefreshToken.user_id)
                .order_by(RefreshToken.id)
            )
            if username is not None:
                query = query.where(User.id == self._user(session, username).id)
            return [
                RefreshTokenView(
                    t.id, u, t.client_id, t.created_at, t.last_used_at, t.expires_at, t.revoked_at
                )
                for t, u in session.execute(query)
            ]

    def revoke_refresh_tokens(
        self, *, token_id: int | None = None, username: str | None = None
    ) -> int:
        """Revoke one refresh token by id, or every one of a user's; returns how many."""
        if token_id is not None and username is not None:
            raise InvalidInput("give a refresh token id or a user, not both")
        if token_id is None and username is None:
            raise InvalidInput("give a refresh token id or a user")
        with self._db.write() as session:
            if username is not None:
                user = self._user(session, username)
                count = self._revoke_refresh_tokens(session, user.id)
                self._log(session, "refresh_token", [username])
                return count
            token = session.get(RefreshToken, token_id)
            if token is None:
                raise NotFound(f"no such refresh token: {token_id}")
            if token.revoked_at is None:
                token.revoked_at = self._clock()
            self._log(session, "refresh_token", [])
            return 1

    # ------------------------------------------------------------------- misc

    def count_users(self) -> int:
        with self._db.read() as session:
            return int(session.scalar(select(func.count()).select_from(User)) or 0)
