"""Refresh tokens (the Distribution "OAuth2 Token Authentication" spec).

``offline_token=true`` on GET, or ``access_type=offline`` with ``grant_type=password`` on
POST, returns a ``refresh_token`` that docker stores as an identity token and that podman,
skopeo and containerd exchange (``grant_type=refresh_token``) for access tokens from then on.

A refresh token is stored only as its SHA-256, bound to its user (and, on request, to the
client id that obtained it), and stops working when it is unused for ``idle_lifetime``,
reaches ``absolute_lifetime``, is revoked, or its user is disabled, deleted or changes password.
It is not rotated on use: Docker keeps the identity token it first received.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from regauth.authn.base import Identity, Kind
from regauth.authn.database import _groups, identity_for_user
from regauth.clock import utcnow
from regauth.credentials import REFRESH_PREFIX, new_secret, secret_hash
from regauth.protocol.errors import InvalidGrant
from regauth.protocol.secret import Secret
from regauth.store.database import Database
from regauth.store.models import RefreshToken, User

__all__ = ["RefreshSettings", "RefreshTokens"]

Touch = Callable[[str, int], None]
INVALID = "invalid or expired refresh token: log in again"


@dataclass(frozen=True)
class RefreshSettings:
    idle_lifetime: datetime.timedelta
    absolute_lifetime: datetime.timedelta
    bind_client: bool = False


class RefreshTokens:
    def __init__(
        self,
        database: Database,
        settings: RefreshSettings,
        *,
        touch: Touch | None = None,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self._db = database
        self._settings = settings
        self._touch = touch or (lambda _kind, _id: None)
        self._clock = clock

    @staticmethod
    def can_issue(identity: Identity) -> bool:
        """Only users whose password regauth itself checks get one. A token or robot secret
        already is a long-lived credential; and for directory or identity-provider users a
        refresh token would outlive their removal there (regauth cannot re-check it on use)."""
        return (
            identity.kind is Kind.USER
            and identity.user_id is not None
            and identity.method == "database"
            and identity.credential == "password"
        )

    async def issue(self, identity: Identity, client_id: str | None) -> str:
        secret = new_secret(REFRESH_PREFIX)
        await self._db.run(self._insert, identity, client_id, secret_hash(secret))
        return secret

    def _insert(self, identity: Identity, client_id: str | None, digest: str) -> None:
        now = self._clock()
        with self._db.write() as session:
            session.add(
                RefreshToken(
                    user_id=identity.user_id,
                    client_id=(client_id or None) and client_id[:128],
                    token_hash=digest,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + self._settings.absolute_lifetime,
                )
            )

    async def exchange(self, token: Secret, client_id: str | None) -> Identity:
        """The identity a refresh token stands for; InvalidGrant (400) when it cannot be used."""
        return await self._db.run(self._lookup, token, client_id)

    def _lookup(self, token: Secret, client_id: str | None) -> Identity:
        if not token.reveal().startswith(REFRESH_PREFIX):
            raise InvalidGrant(INVALID, log_reason="not a regauth refresh token")
        now = self._clock()
        with self._db.read() as session:
            found = session.execute(
                select(RefreshToken, User)
                .join(User, User.id == RefreshToken.user_id)
                .where(RefreshToken.token_hash == secret_hash(token.reveal()))
            ).first()
            if found is None:
                raise InvalidGrant(INVALID, log_reason="unknown refresh token")
            record, user = found
            reason = None
            if record.revoked_at is not None:
                reason = "refresh token revoked"
            elif record.expires_at <= now:
                reason = "refresh token reached its absolute lifetime"
            elif record.last_used_at + self._settings.idle_lifetime <= now:
                reason = "refresh token unused for too long"
            elif not user.enabled:
                reason = "user is disabled"
            elif user.password_changed_at is not None and (
                user.password_changed_at > record.created_at
            ):
                reason = "password changed since the refresh token was issued"
            elif self._settings.bind_client and (record.client_id or None) != (client_id or None):
                reason = "refresh token belongs to another client"
            if reason is not None:
                raise InvalidGrant(INVALID, log_reason=reason)
            groups = _groups(session, user.id)
            self._touch("refresh_token", record.id)
        return identity_for_user(
            user.id,
            user.username,
            groups,
            user.is_admin,
            method="refresh_token",
            credential="refresh_token",
        )
