"""Users, robots and personal access tokens from regauth's database.

* ``robot+NAME`` with a robot secret: the robot, if it is neither revoked nor expired.
* a username with a personal access token as the password: the token's owner, limited to the
  token's repositories and actions.
* a username with a password: the user, if enabled. bcrypt hashes (from an import) are
  replaced by argon2id ones after the first successful login.

Tokens and robot secrets are looked up by their SHA-256 on every request, so a revocation
through any instance applies at once everywhere; only password successes may be cached.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from regauth.authn.base import AuthResult, Identity, Kind, Restriction
from regauth.clock import utcnow
from regauth.credentials import PAT_PREFIX, ROBOT_PREFIX, robot_name_of, secret_hash
from regauth.credentials.passwords import (
    dummy_argon2,
    hash_password_argon2,
    verify_password_off_loop,
)
from regauth.protocol.secret import Secret
from regauth.store.database import Database
from regauth.store.models import (
    Group,
    GroupMember,
    PersonalAccessToken,
    Robot,
    User,
)
from regauth.store.user_labels import labels_of

__all__ = ["DatabaseAuthenticator", "identity_for_user", "load_user_identity", "user_labels"]

Touch = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class _UserRow:
    id: int
    username: str
    password_hash: str | None
    enabled: bool
    is_admin: bool
    groups: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]]


def _groups(session: Session, user_id: int) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(Group.name)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user_id)
            .order_by(Group.name)
        )
    )


def _user_row(session: Session, user: User, *, with_labels: bool = True) -> _UserRow:
    return _UserRow(
        user.id,
        user.username,
        user.password_hash,
        user.enabled,
        user.is_admin,
        _groups(session, user.id),
        user_labels(session, user.id) if with_labels else {},
    )


def user_labels(session: Session, user_id: int) -> Mapping[str, tuple[str, ...]]:
    """A database user's own labels (``regauth user label``), as an identity carries them."""
    return {k: tuple(v) for k, v in labels_of(session, user_id).items()}


def identity_for_user(
    row_id: int,
    username: str,
    groups: tuple[str, ...],
    is_admin: bool,
    *,
    method: str,
    credential: str,
    restriction: Restriction | None = None,
    labels: Mapping[str, tuple[str, ...]] | None = None,
) -> Identity:
    """A database user's identity. Its labels are the user's own labels and ``groups`` (the
    memberships, followed by the values of a ``groups`` label the user may have)."""
    merged = dict(labels or {})
    merged["groups"] = tuple(dict.fromkeys(groups + merged.get("groups", ())))
    return Identity(
        subject=username,
        method=method,
        labels=MappingProxyType(merged),
        kind=Kind.USER,
        groups=groups,
        is_admin=is_admin,
        credential=credential,
        restriction=restriction,
        user_id=row_id,
    )


def load_user_identity(database: Database, username: str, *, method: str) -> Identity | None:
    """The identity of a database user (groups, admin flag), or None if unknown/disabled."""
    with database.read() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None or not user.enabled:
            return None
        row = _user_row(session, user)
    return identity_for_user(
        row.id,
        row.username,
        row.groups,
        row.is_admin,
        method=method,
        credential="none",
        labels=row.labels,
    )


def _expired(moment: datetime.datetime | None, now: datetime.datetime) -> bool:
    return moment is not None and moment <= now


class DatabaseAuthenticator:
    name = "database"
    #: the one backend that answers token-shaped secrets (see :mod:`regauth.authn.chain`)
    handles_tokens = True

    def __init__(
        self,
        database: Database,
        *,
        touch: Touch | None = None,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self._db = database
        self._touch = touch or (lambda _kind, _id: None)
        self._clock = clock

    async def refresh(self) -> None:
        return None

    async def verify_dummy(self, password: Secret) -> bool:
        """A stand-in argon2id check: what a wrong password of a database user costs."""
        await verify_password_off_loop(dummy_argon2(), password.encode())
        return True

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        robot = robot_name_of(username)
        if robot is not None:
            return await self._db.run(self._robot, robot, password)
        if password.reveal().startswith(PAT_PREFIX):
            return await self._db.run(self._token, username, password)
        row = await self._db.run(self._find_user, username)
        if row is None or row.password_hash is None:
            return AuthResult.unknown()
        if not await verify_password_off_loop(row.password_hash, password.encode()):
            return AuthResult.denied("wrong password")
        if not row.enabled:
            return AuthResult.denied("user is disabled")
        if not row.password_hash.startswith("$argon2id$"):
            await self._db.run(self._upgrade_hash, row, password)
        identity = identity_for_user(
            row.id,
            row.username,
            row.groups,
            row.is_admin,
            method=self.name,
            credential="password",
            labels=await self._db.run(self._labels, row.id),
        )
        return AuthResult.success(identity, cacheable=True)

    def _find_user(self, username: str) -> _UserRow | None:
        """The user's row without labels: a failed login reads no more than an unknown name's
        (only a success reads the labels, see :meth:`_labels`)."""
        with self._db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            return _user_row(session, user, with_labels=False) if user is not None else None

    def _labels(self, user_id: int) -> Mapping[str, tuple[str, ...]]:
        with self._db.read() as session:
            return user_labels(session, user_id)

    def _upgrade_hash(self, row: _UserRow, password: Secret) -> None:
        from sqlalchemy import update

        with self._db.write() as session:
            session.execute(
                update(User)
                .where(User.id == row.id, User.password_hash == row.password_hash)
                .values(password_hash=hash_password_argon2(password.encode()))
            )

    def _robot(self, name: str, password: Secret) -> AuthResult:
        now = self._clock()
        with self._db.read() as session:
            robot = None
            if password.reveal().startswith(ROBOT_PREFIX):
                robot = session.scalar(
                    select(Robot).where(Robot.secret_hash == secret_hash(password.reveal()))
                )
            if robot is None or robot.name != name:
                # the same answer, and the same work, whether or not such a robot exists
                return AuthResult.denied("wrong robot secret or unknown robot")
            if robot.revoked_at is not None:
                return AuthResult.denied("robot is revoked")
            if _expired(robot.expires_at, now):
                return AuthResult.denied("robot has expired")
            self._touch("robot", robot.id)
            identity = Identity(
                subject=f"robot+{robot.name}",
                method=self.name,
                kind=Kind.ROBOT,
                credential="robot",
            )
            return AuthResult.success(identity, cacheable=False)

    def _token(self, username: str, password: Secret) -> AuthResult:
        now = self._clock()
        with self._db.read() as session:
            found = session.execute(
                select(PersonalAccessToken, User)
                .join(User, User.id == PersonalAccessToken.user_id)
                .where(PersonalAccessToken.token_hash == secret_hash(password.reveal()))
            ).first()
            if found is None:
                # the same answer, and the same work, whether or not the user exists
                return AuthResult.denied("unknown personal access token")
            token, user = found
            if user.username != username:
                return AuthResult.denied("personal access token of another user")
            if token.revoked_at is not None:
                return AuthResult.denied("personal access token is revoked")
            if _expired(token.expires_at, now):
                return AuthResult.denied("personal access token has expired")
            if not user.enabled:
                return AuthResult.denied("user is disabled")
            restriction = None
            if token.repositories is not None or token.actions is not None:
                restriction = Restriction(
                    repositories=tuple(json.loads(token.repositories))
                    if token.repositories
                    else None,
                    actions=frozenset(json.loads(token.actions)) if token.actions else None,
                )
            self._touch("token", token.id)
            row = _user_row(session, user)
        identity = identity_for_user(
            row.id,
            row.username,
            row.groups,
            row.is_admin,
            method=self.name,
            credential="token",
            restriction=restriction,
            labels=row.labels,
        )
        return AuthResult.success(identity, cacheable=False)
