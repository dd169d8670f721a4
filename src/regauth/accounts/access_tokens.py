"""Personal access tokens: a user's registry password, optionally limited and expiring.

A token may be limited to repository patterns and to actions (pull, push, delete); the secret
is shown once and only its hash and a short hint are kept. The single sign-on login pages make
one at every login.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from sqlalchemy import select

from regauth.accounts.checks import ACTIONS, check_expiry, check_pattern, check_token_name
from regauth.accounts.errors import InvalidInput, NotFound
from regauth.accounts.store_access import StoreAccess, find_user, log_change
from regauth.accounts.views import Created, TokenView
from regauth.credentials import PAT_PREFIX, hint, new_secret, secret_hash
from regauth.store.models import PersonalAccessToken, User

__all__ = ["AccessTokens"]


def _token_view(token: PersonalAccessToken, username: str) -> TokenView:
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


class AccessTokens(StoreAccess):
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
            user = find_user(session, username)
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
            log_change(session, "token", [username])
            return Created(secret, _token_view(token, username))

    def list_tokens(self, username: str | None = None) -> list[TokenView]:
        with self._db.read() as session:
            query = (
                select(PersonalAccessToken, User.username)
                .join(User, User.id == PersonalAccessToken.user_id)
                .order_by(PersonalAccessToken.id)
            )
            if username is not None:
                query = query.where(User.id == find_user(session, username).id)
            return [_token_view(t, u) for t, u in session.execute(query)]

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
            log_change(session, "token", [owner])
            return _token_view(token, owner)
