"""A short-lived cache of successful password checks.

Clients ask for a fresh token on every command, often twice; verifying a bcrypt or argon2
hash each time costs tens of milliseconds. After a successful check the identity is kept for
``ttl`` seconds under a keyed hash (a per-process random key) of username and password, so
the cache holds neither and a different password never hits. Failures are never cached.
Entries are dropped at once when a backend reports that a user changed; every such drop moves
:attr:`CredentialCache.generation` on, so whatever was derived from a cached login (the token
endpoint's remembered grants) can tell it is stale.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from regauth.authn.base import Identity
from regauth.protocol.secret import Secret

__all__ = ["CredentialCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    username: str
    identity: Identity
    expires_at: float


class CredentialCache:
    def __init__(
        self,
        ttl: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        #: moves on whenever entries are dropped because users changed
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0 and self._max_entries > 0

    @property
    def ttl(self) -> float:
        return self._ttl

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, username: str, password: Secret) -> bytes:
        """The keyed hash that stands for these credentials (never the password itself)."""
        return self._digest(username, password)

    def _digest(self, username: str, password: Secret) -> bytes:
        name = username.encode("utf-8")
        message = len(name).to_bytes(4, "big") + name + password.encode()
        # keyed BLAKE2b is a MAC (RFC 7693) and cheaper to set up than HMAC-SHA256
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def get(self, username: str, password: Secret) -> Identity | None:
        if not self.enabled:
            return None
        digest = self._digest(username, password)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._remove(digest, entry)
            return None
        self._entries.move_to_end(digest)
        return entry.identity

    def remaining(self, username: str, password: Secret) -> float | None:
        """Seconds this successful login stays cached; None when it is not cached."""
        if not self.enabled:
            return None
        entry = self._entries.get(self._digest(username, password))
        if entry is None:
            return None
        left = entry.expires_at - self._clock()
        return left if left > 0 else None

    def put(self, username: str, password: Secret, identity: Identity) -> None:
        if not self.enabled:
            return
        digest = self._digest(username, password)
        self._entries[digest] = _Entry(username, identity, self._clock() + self._ttl)
        self._entries.move_to_end(digest)
        self._by_user.setdefault(username, set()).add(digest)
        if identity.subject != username:  # "BOB" typed, "bob" in the directory
            self._by_user.setdefault(identity.subject, set()).add(digest)
        while len(self._entries) > self._max_entries:
            oldest, entry = self._entries.popitem(last=False)
            self._remove(oldest, entry)

    def _remove(self, digest: bytes, entry: _Entry) -> None:
        self._entries.pop(digest, None)
        for name in {entry.username, entry.identity.subject}:
            keys = self._by_user.get(name)
            if keys is not None:
                keys.discard(digest)
                if not keys:
                    del self._by_user[name]

    def invalidate_users(self, usernames: Iterable[str]) -> None:
        self.generation += 1
        for username in usernames:
            for digest in self._by_user.pop(username, set()):
                self._entries.pop(digest, None)

    def invalidate_accounts(self, accounts: Iterable[str]) -> None:
        """Drop the cached logins of these account names, in any letter case (an account
        locked by the guessing limits, which count names case-folded)."""
        folded = {a.casefold() for a in accounts}
        self.invalidate_users([u for u in self._by_user if u.casefold() in folded])

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()
