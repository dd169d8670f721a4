"""Who may use the admin API: an enabled administrator, by an unrestricted personal access token.

Two ways to present the token (RFC 6750 and RFC 7617)::

    Authorization: Bearer regauth_pat_...
    Authorization: Basic base64(username:regauth_pat_...)

:func:`parse_admin_authorization` is pure (header text in, credentials out);
:func:`verify_admin_token` is one indexed query by the token's SHA-256, blocking, so callers run
it off the event loop (``await database.run(verify_admin_token, database, credentials, now)``).

A missing, malformed, unknown, revoked or expired token, or a disabled owner, is 401; a valid
token of a user who is not an administrator, or a token limited to some repositories or actions,
is 403: the admin API needs the whole of its owner's authority. Each failure carries a short
``reason`` for the log, never the token.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
from dataclasses import dataclass

from sqlalchemy import select

from regauth.credentials import PAT_PREFIX, secret_hash
from regauth.protocol.secret import Secret
from regauth.store.database import Database
from regauth.store.models import PersonalAccessToken, User

__all__ = [
    "AdminAuthError",
    "AdminCredentials",
    "AdminPrincipal",
    "parse_admin_authorization",
    "verify_admin_token",
]

#: a personal access token is the prefix and 43 base64url characters; leave room, refuse floods
_MAX_TOKEN = 256
_MAX_USERNAME = 128
_INVALID = "invalid credentials: use Authorization: Bearer <an admin's personal access token>"


class AdminAuthError(Exception):
    """401 (no valid credentials) or 403 (valid, but not enough); ``reason`` is for the log."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def _unauthorized(reason: str, message: str = _INVALID) -> AdminAuthError:
    return AdminAuthError(401, message, reason)


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    token: Secret
    #: the username given with HTTP Basic; None with a Bearer token
    username: str | None = None


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """The administrator behind a request, and the token they used."""

    username: str
    user_id: int
    token_id: int


def _basic(encoded: str) -> AdminCredentials:
    if len(encoded) > 2 * (_MAX_TOKEN + _MAX_USERNAME):
        raise _unauthorized("malformed Basic credentials")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _unauthorized("malformed Basic credentials") from None
    username, colon, token = decoded.partition(":")
    if not colon or not username or not token:
        raise _unauthorized("malformed Basic credentials")
    if len(username) > _MAX_USERNAME:
        raise _unauthorized("username too long")
    return AdminCredentials(Secret(token), username)


def parse_admin_authorization(header: str | None) -> AdminCredentials:
    """The credentials in an ``Authorization`` header; :class:`AdminAuthError` (401) if none."""
    if header is None or not header.strip():
        raise _unauthorized(
            "no credentials",
            "authentication required: use Authorization: Bearer <an admin's personal access token>",
        )
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return AdminCredentials(Secret(value))
    if scheme.lower() == "basic" and value:
        return _basic(value)
    raise _unauthorized("unsupported authorization scheme")


def _expired(moment: datetime.datetime | None, now: datetime.datetime) -> bool:
    return moment is not None and moment <= now


def verify_admin_token(
    database: Database, credentials: AdminCredentials, now: datetime.datetime
) -> AdminPrincipal:
    """The administrator the token belongs to, or :class:`AdminAuthError`."""
    token = credentials.token
    if not token.reveal().startswith(PAT_PREFIX) or len(token) > _MAX_TOKEN:
        raise _unauthorized("not a personal access token")
    digest = secret_hash(token.reveal())
    with database.read() as session:
        found = session.execute(
            select(PersonalAccessToken, User)
            .join(User, User.id == PersonalAccessToken.user_id)
            .where(PersonalAccessToken.token_hash == digest)
        ).first()
        if found is None:
            raise _unauthorized("unknown personal access token")
        row, user = found
        # the database matched on the hash already; compare again in constant time all the same
        if not hmac.compare_digest(row.token_hash.encode("ascii"), digest.encode("ascii")):
            raise _unauthorized("unknown personal access token")
        if credentials.username is not None and not hmac.compare_digest(
            credentials.username.encode("utf-8"), user.username.encode("utf-8")
        ):
            raise _unauthorized("personal access token of another user")
        if row.revoked_at is not None:
            raise _unauthorized("personal access token is revoked")
        if _expired(row.expires_at, now):
            raise _unauthorized("personal access token has expired")
        if not user.enabled:
            raise _unauthorized("user is disabled")
        if not user.is_admin:
            raise AdminAuthError(
                403,
                f"user {user.username!r} is not an administrator",
                "not an administrator",
            )
        if row.repositories is not None or row.actions is not None:
            raise AdminAuthError(
                403,
                "this personal access token is limited to some repositories or actions; "
                "the admin API needs an unrestricted token",
                "limited personal access token",
            )
        return AdminPrincipal(user.username, user.id, row.id)
