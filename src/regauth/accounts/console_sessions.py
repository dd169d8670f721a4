"""The web console's sign-in sessions: start one, find the one a cookie names, list, end.

A session is a random secret in the browser and its SHA-256 here. It ends when its owner signs
out or an administrator ends it, after ``console.idle_lifetime`` without use or
``console.absolute_lifetime`` after sign-in, and when its user's password changes, or the user
is disabled (:func:`end_user_sessions`, called in those transactions) or deleted (the row goes
with the user's). Every instance sees the same rows, so an ended session is ended everywhere
from its next request.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from regauth.accounts.errors import NotFound
from regauth.accounts.store_access import StoreAccess
from regauth.accounts.views import _view_dict
from regauth.credentials import new_secret, secret_hash
from regauth.store.console_sessions import ConsoleSession
from regauth.store.models import User

__all__ = [
    "CONSOLE_SESSION_PREFIX",
    "DEVICE_SESSION_PREFIX",
    "ConsoleSessionView",
    "ConsoleSessions",
    "LiveSession",
    "SessionStart",
    "end_user_sessions",
]

CONSOLE_SESSION_PREFIX = "regauth_cs_"
DEVICE_SESSION_PREFIX = "regauth_ds_"
_PREFIXES = {"browser": CONSOLE_SESSION_PREFIX, "device": DEVICE_SESSION_PREFIX}
#: a session's last use is written at most this often (each request only reads)
_TOUCH_EVERY = datetime.timedelta(seconds=60)
#: ended and expired rows are kept this long for the listing, then deleted
_KEEP_ENDED = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ConsoleSessionView:
    id: int
    user: str
    method: str
    created_at: datetime.datetime
    last_seen_at: datetime.datetime
    expires_at: datetime.datetime
    revoked_at: datetime.datetime | None
    user_agent: str | None
    address: str | None
    kind: str = "browser"
    client_name: str | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return _view_dict(self)


@dataclass(frozen=True)
class SessionStart:
    """Who signs in, as the authenticator chain said."""

    username: str
    method: str
    user_id: int | None = None
    #: SHA-256 of the password hash, for accounts without a row
    fingerprint: str | None = None
    labels: Mapping[str, Sequence[str]] | None = None
    groups: Sequence[str] = ()
    user_agent: str | None = None
    address: str | None = None
    #: browser (the console) or device (a machine, RFC 8628)
    kind: str = "browser"
    client_name: str | None = None


@dataclass(frozen=True)
class LiveSession:
    """A session a cookie named, still valid, with its user as the database has them now."""

    id: int
    username: str
    method: str
    user_id: int | None
    is_admin: bool
    fingerprint: str | None
    labels: dict[str, tuple[str, ...]]
    groups: tuple[str, ...]
    token_hash: str
    created_at: datetime.datetime
    kind: str = "browser"
    client_name: str | None = None


def end_user_sessions(session: Session, user_id: int, now: datetime.datetime) -> int:
    """End every live console session of a user in this transaction; returns how many."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _view(row: ConsoleSession) -> ConsoleSessionView:
    return ConsoleSessionView(
        row.id,
        row.username,
        row.method,
        row.created_at,
        row.last_seen_at,
        row.expires_at,
        row.revoked_at,
        row.user_agent,
        row.address,
        row.kind,
        row.client_name,
    )


def _identity_json(start: SessionStart) -> str:
    # what the authenticator said at sign-in (a directory's groups, a static user's labels);
    # a user with a row also gets the row's groups and admin flag as they are at each request
    document: dict[str, Any] = {
        "labels": {k: list(v) for k, v in (start.labels or {}).items()},
        "groups": list(start.groups),
    }
    return orjson.dumps(document).decode()


class ConsoleSessions(StoreAccess):
    def start_session(
        self,
        start: SessionStart,
        *,
        absolute_lifetime: datetime.timedelta,
        max_per_user: int,
    ) -> tuple[str, ConsoleSessionView]:
        """A new session; returns the secret for the cookie (shown nowhere else) and its view."""
        if start.kind not in _PREFIXES:
            raise ValueError(f"unknown session kind {start.kind!r}")
        secret = new_secret(_PREFIXES[start.kind])
        now = self._clock()
        with self._db.write() as session:
            session.execute(
                delete(ConsoleSession).where(ConsoleSession.expires_at < now - _KEEP_ENDED)
            )
            row = ConsoleSession(
                token_hash=secret_hash(secret),
                kind=start.kind,
                client_name=(start.client_name or "")[:128] or None,
                user_id=start.user_id,
                username=start.username,
                method=start.method[:64],
                fingerprint=start.fingerprint,
                identity=_identity_json(start),
                created_at=now,
                last_seen_at=now,
                expires_at=now + absolute_lifetime,
                user_agent=(start.user_agent or "")[:256] or None,
                address=(start.address or "")[:64] or None,
            )
            session.add(row)
            session.flush()
            live = session.scalars(
                select(ConsoleSession)
                .where(
                    ConsoleSession.username == start.username,
                    ConsoleSession.kind == start.kind,
                    ConsoleSession.revoked_at.is_(None),
                    ConsoleSession.expires_at > now,
                )
                .order_by(ConsoleSession.created_at.desc(), ConsoleSession.id.desc())
            ).all()
            for old in live[max_per_user:]:
                old.revoked_at = now
            return secret, _view(row)

    def find_session(
        self, secret: str, *, idle_lifetime: datetime.timedelta, kind: str = "browser"
    ) -> LiveSession | None:
        """The live session of ``kind`` that ``secret`` names, or None (unknown, ended, idle
        or expired)."""
        if not secret.startswith(_PREFIXES.get(kind, "\0")) or len(secret) > 100:
            return None
        token_hash = secret_hash(secret)
        now = self._clock()
        with self._db.read() as session:
            found = session.execute(
                select(ConsoleSession, User)
                .outerjoin(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.token_hash == token_hash)
            ).first()
            if found is None:
                return None
            row, user = found
            if row.kind != kind or row.revoked_at is not None or row.expires_at <= now:
                return None
            if now - row.last_seen_at > idle_lifetime:
                return None
            if row.user_id is not None and (user is None or not user.enabled):
                return None
            labels: dict[str, tuple[str, ...]] = {}
            groups: tuple[str, ...] = ()
            if row.identity:
                document = orjson.loads(row.identity)
                labels = {k: tuple(v) for k, v in document.get("labels", {}).items()}
                groups = tuple(document.get("groups", ()))
            live = LiveSession(
                id=row.id,
                username=row.username,
                method=row.method,
                user_id=row.user_id,
                is_admin=bool(user is not None and user.is_admin),
                fingerprint=row.fingerprint,
                labels=labels,
                groups=groups,
                token_hash=token_hash,
                created_at=row.created_at,
                kind=row.kind,
                client_name=row.client_name,
            )
            stale = now - row.last_seen_at > _TOUCH_EVERY
        if stale:
            with self._db.write() as session:
                session.execute(
                    update(ConsoleSession)
                    .where(ConsoleSession.id == live.id)
                    .values(last_seen_at=now)
                )
        return live

    def list_sessions(
        self,
        username: str | None = None,
        *,
        include_ended: bool = False,
        kind: str | None = None,
    ) -> list[ConsoleSessionView]:
        """Sessions, newest first: one user's, or everyone's (administrators); of one kind
        (browser, device) or both."""
        now = self._clock()
        with self._db.read() as session:
            query = select(ConsoleSession).order_by(ConsoleSession.id.desc())
            if kind is not None:
                query = query.where(ConsoleSession.kind == kind)
            if username is not None:
                query = query.where(ConsoleSession.username == username)
            if not include_ended:
                query = query.where(
                    ConsoleSession.revoked_at.is_(None), ConsoleSession.expires_at > now
                )
            return [_view(row) for row in session.scalars(query)]

    def end_session(self, session_id: int, *, username: str | None = None) -> ConsoleSessionView:
        """End one session; with ``username``, only if it is that user's (else NotFound)."""
        with self._db.write() as session:
            row = session.get(ConsoleSession, session_id)
            if row is None or (username is not None and row.username != username):
                raise NotFound(f"no such console session: {session_id}")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _view(row)

    def end_sessions_of(self, username: str) -> int:
        """End every live session of an account (sign out everywhere); returns how many."""
        now = self._clock()
        with self._db.write() as session:
            result = session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.username == username, ConsoleSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def end_session_by_secret(self, secret: str) -> None:
        """Sign out: end the session the cookie names (nothing if it names none)."""
        with self._db.write() as session:
            session.execute(
                update(ConsoleSession)
                .where(
                    ConsoleSession.token_hash == secret_hash(secret),
                    ConsoleSession.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock())
            )
