"""Importing users with their password hashes, from htpasswd files or docker_auth's users list.

The front ends read the files; this takes the (username, bcrypt or argon2id hash) pairs and
writes them all in one transaction, or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from regauth.accounts.checks import check_new_name, check_username
from regauth.accounts.errors import InvalidInput
from regauth.accounts.refresh_tokens import revoke_user_tokens
from regauth.accounts.store_access import StoreAccess, log_change
from regauth.credentials.passwords import is_supported_hash
from regauth.store.models import User

__all__ = ["UserImport"]


class UserImport(StoreAccess):
    def import_users(
        self, entries: Sequence[tuple[str, str]], *, source: str = "local", replace: bool = False
    ) -> tuple[list[str], list[str]]:
        """Import (username, bcrypt or argon2id hash) pairs in one transaction.

        Existing users are skipped (or get the new hash with ``replace``); every entry is
        validated before anything is written, so a bad line changes nothing.
        """
        seen: set[str] = set()
        for username, encoded in entries:
            check_new_name("username", username)
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
                        revoke_user_tokens(session, existing[username].id, self._clock())
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
            log_change(session, "user", created)
        return created, skipped
