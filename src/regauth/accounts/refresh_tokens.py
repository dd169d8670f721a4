"""Refresh tokens: list them, revoke one or all of a user's.

The token endpoint issues them to clients that ask for one (``offline_token=true`` or
``access_type=offline``); administrators only see and revoke them. A changed password, a
disabled user and a replaced import hash revoke them too, through :func:`revoke_user_tokens`.
"""

from __future__ import annotations

import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from regauth.accounts.errors import InvalidInput, NotFound
from regauth.accounts.store_access import StoreAccess, find_user, log_change
from regauth.accounts.views import RefreshTokenView
from regauth.store.models import RefreshToken, User

__all__ = ["RefreshTokens", "revoke_user_tokens"]


def revoke_user_tokens(session: Session, user_id: int, now: datetime.datetime) -> int:
    """Revoke every live refresh token of a user in this transaction; returns how many."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class RefreshTokens(StoreAccess):
    def list_refresh_tokens(self, username: str | None = None) -> list[RefreshTokenView]:
        with self._db.read() as session:
            query = (
                select(RefreshToken, User.username)
                .join(User, User.id == RefreshToken.user_id)
                .order_by(RefreshToken.id)
            )
            if username is not None:
                query = query.where(User.id == find_user(session, username).id)
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
                user = find_user(session, username)
                count = revoke_user_tokens(session, user.id, self._clock())
                log_change(session, "refresh_token", [username])
                return count
            token = session.get(RefreshToken, token_id)
            if token is None:
                raise NotFound(f"no such refresh token: {token_id}")
            if token.revoked_at is None:
                token.revoked_at = self._clock()
            log_change(session, "refresh_token", [])
            return 1
