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

from sqlalchemy import select, update

from regauth.authn.base import Identity, Kind
from regauth.authn.database import _groups, identity_for_user, user_labels
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
    #: active refresh tokens a user may hold; the oldest are revoked past it (0: no limit)
    max_per_user: int = 20
    #: the service of tokens issued before they remembered theirs
    default_service: str | None = None


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

    async def issue(
        self, identity: Identity, client_id: str | None, service: str | None = None
    ) -> str:
        secret = new_secret(REFRESH_PREFIX)
        await self._db.run(self._insert, identity, client_id, secret_hash(secret), service)
        return secret

    def _insert(
        self, identity: Identity, client_id: str | None, digest: str, service: str | None
    ) -> None:
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
                    service=service,
                )
            )
            limit = self._settings.max_per_user
            if limit > 0 and identity.user_id is not None:
                session.flush()
                oldest = session.scalars(
                    select(RefreshToken.id)
                    .where(
                        RefreshToken.user_id == identity.user_id,
                        RefreshToken.revoked_at.is_(None),
                        RefreshToken.expires_at > now,
                    )
                    .order_by(RefreshToken.created_at.desc(), RefreshToken.id.desc())
                    .offset(limit)
                ).all()
                if oldest:  # each user holds a bounded number: the oldest go first
                    session.execute(
                        update(RefreshToken)
                        .where(RefreshToken.id.in_(oldest))
                        .values(revoked_at=now)
                    )

    async def exchange(
        self, token: Secret, client_id: str | None, service: str | None = None
    ) -> Identity:
        """The identity a refresh token stands for; InvalidGrant (400) when it cannot be used
        (also when it was issued for another service than ``service``)."""
        return await self._db.run(self._lookup, token, client_id, service)

    def _lookup(self, token: Secret, client_id: str | None, service: str | None) -> Identity:
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
            elif (
                service is not None
                and (record.service or self._settings.default_service or service) != service
            ):
                reason = "refresh token was issued for another service"
            if reason is not None:
                raise InvalidGrant(INVALID, log_reason=reason)
            groups = _groups(session, user.id)
            labels = user_labels(session, user.id)
            self._touch("refresh_token", record.id)
        return identity_for_user(
            user.id,
            user.username,
            groups,
            user.is_admin,
            method="refresh_token",
            credential="refresh_token",
            labels=labels,
        )
