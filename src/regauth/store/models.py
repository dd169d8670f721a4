"""The tables. Times are stored as UTC; every change an admin makes appends to ``change_log``
in the same transaction, which is how other processes and instances learn about it."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from regauth.clock import utcnow

__all__ = [
    "AuditEvent",
    "Base",
    "ChangeLog",
    "Grant",
    "Group",
    "GroupMember",
    "LoginFailure",
    "PersonalAccessToken",
    "RefreshToken",
    "Robot",
    "ServerSecret",
    "SigningKeyRecord",
    "User",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, _dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(datetime.UTC)

    def process_result_value(self, value: Any, _dialect: Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        moment: datetime.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: may use the admin API and sees the catalog
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: where the account comes from: local, ldap, oidc:<provider>
    source: Mapped[str] = mapped_column(String(64), default="local")
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    password_changed_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64), default="local")
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    #: who made the membership: local (an admin), ldap, oidc:<provider>; a login through a
    #: source only ever removes memberships that source made
    source: Mapped[str] = mapped_column(String(64), default="local", server_default="local")


class Robot(Base):
    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)


class Grant(Base):
    """A role on a repository pattern, for exactly one user, group or robot, the public
    (anonymous pull), or everyone signed in (``authenticated``)."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN group_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN robot_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN public THEN 1 ELSE 0 END)"
            " + (CASE WHEN authenticated THEN 1 ELSE 0 END) = 1",
            name="one_subject",
        ),
        CheckConstraint("role IN ('pull', 'push', 'delete', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    robot_id: Mapped[int | None] = mapped_column(
        ForeignKey("robots.id", ondelete="CASCADE"), index=True
    )
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    authenticated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pattern: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128))


class PersonalAccessToken(Base):
    __tablename__ = "personal_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to recognise it in listings
    hint: Mapped[str] = mapped_column(String(32))
    #: JSON list of repository patterns the token is limited to; NULL: no limit
    repositories: Mapped[str | None] = mapped_column(Text)
    #: JSON list of actions the token is limited to; NULL: no limit
    actions: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str | None] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    #: the service (token audience) it was issued for; NULL (issued before 0006): the first
    #: configured service
    service: Mapped[str | None] = mapped_column(String(256))


class ChangeLog(Base):
    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    #: user, group, grant, robot, token, refresh_token
    kind: Mapped[str] = mapped_column(String(32))
    #: the user names affected (space separated) or another subject
    subject: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_at", "account", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    account: Mapped[str | None] = mapped_column(String(256))
    method: Mapped[str | None] = mapped_column(String(64))
    grant_type: Mapped[str | None] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    #: JSON list of [type, name, requested, granted, decided by] (see regauth.audit)
    scopes: Mapped[str | None] = mapped_column(Text)
    #: the scopes' names, space-delimited with a space at each end, for the repository filter
    repositories: Mapped[str | None] = mapped_column(Text)


class LoginFailure(Base):
    """Failed logins counted for the guessing limits, shared by every worker and instance.

    ``scope`` is ``pair`` (one account from one address), ``account`` (from any address;
    ``address`` is empty) or ``address`` (any account; ``account`` is empty)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        UniqueConstraint("scope", "account", "address", name="uq_login_failures_key"),
        CheckConstraint("scope IN ('pair', 'account', 'address')", name="scope"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    scope: Mapped[str] = mapped_column(String(16))
    #: the account name as typed, case-folded ("" for scope address)
    account: Mapped[str] = mapped_column(String(256), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    #: refused without a password check until then (None: not blocked)
    blocked_until: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime, index=True)


class SigningKeyRecord(Base):
    """A token signing key with its certificate chain, shared by every instance.

    ``published`` keys are in the certificate bundle and the JWKS but do not sign yet; the one
    ``active`` key signs; ``retired`` keys stay published until no token they signed can still
    be valid."""

    __tablename__ = "signing_keys"
    __table_args__ = (CheckConstraint("state IN ('published', 'active', 'retired')", name="state"),)

    #: the RFC 7638 JWK thumbprint of the public key
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    libtrust_kid: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(8))
    #: PEM (PKCS#8, unencrypted)
    private_key: Mapped[str] = mapped_column(Text)
    #: PEM certificate chain, leaf first
    certificate: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    #: when it stopped signing (another key was activated)
    deactivated_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)


class ServerSecret(Base):
    """Random secrets generated once and shared by every instance (cookie signing keys)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: hex
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
