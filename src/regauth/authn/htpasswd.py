"""Users from an Apache htpasswd file (bcrypt entries), re-read when the file changes.

The file is checked for changes at most once per ``check_interval`` seconds (one ``stat``),
so an edit (or ``htpasswd -B file user``) takes effect within a second without a restart.
Entries with other hash formats (MD5 ``$apr1$``, SHA1, crypt) are refused: the user is known
but cannot log in, and a warning names the line.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from regauth.authn.base import AuthResult, Identity
from regauth.credentials.passwords import (
    bcrypt_cost,
    dummy_hash_like,
    is_supported_hash,
    verify_password_off_loop,
)
from regauth.protocol.secret import Secret

__all__ = ["HtpasswdAuthenticator", "HtpasswdError", "parse_htpasswd"]

log = structlog.get_logger("regauth.htpasswd")


class HtpasswdError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class HtpasswdEntries:
    hashes: dict[str, str | None]
    #: line numbers of entries whose hash format is not supported
    unsupported: list[tuple[int, str]]
    malformed: list[int]


def parse_htpasswd(text: str) -> HtpasswdEntries:
    hashes: dict[str, str | None] = {}
    unsupported: list[tuple[int, str]] = []
    malformed: list[int] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, encoded = line.partition(":")
        if not colon or not user:
            malformed.append(number)
            continue
        if user in hashes:
            continue  # Apache uses the first entry for a user
        if is_supported_hash(encoded):
            hashes[user] = encoded
        else:
            hashes[user] = None
            unsupported.append((number, user))
    return HtpasswdEntries(hashes, unsupported, malformed)


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class HtpasswdAuthenticator:
    name = "htpasswd"

    def __init__(
        self,
        path: Path,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self._path = path
        self._on_change = on_change
        self._check_interval = check_interval
        self._clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._entries = HtpasswdEntries({}, [], [])
        self._dummy: str | None = None
        self._dummy_cost: int | None = None
        self._checked_at = clock()
        self._reload_lock = asyncio.Lock()
        try:
            self._load()
        except OSError as exc:
            raise HtpasswdError(f"cannot read htpasswd file {path}: {exc.strerror}") from None

    @property
    def password_hashes(self) -> list[str]:
        return [h for h in self._entries.hashes.values() if h]

    def _load(self) -> None:
        stat = os.stat(self._path)
        text = self._path.read_text(encoding="utf-8", errors="replace")
        entries = parse_htpasswd(text)
        for number, user in entries.unsupported:
            log.warning(
                "htpasswd entry refused: only bcrypt hashes are supported (htpasswd -B)",
                file=str(self._path),
                line=number,
                user=user,
            )
        for number in entries.malformed:
            log.warning("htpasswd line ignored: not user:hash", file=str(self._path), line=number)
        previous = self._entries.hashes
        self._entries = entries
        costs = [c for c in (bcrypt_cost(h) for h in self.password_hashes) if c is not None]
        cost = max(costs) if costs else None
        if cost != self._dummy_cost:  # a stand-in as costly as the file's costliest hash
            self._dummy = dummy_hash_like(self.password_hashes)
            self._dummy_cost = cost
        self._signature = _signature(stat)
        changed = {
            user
            for user in previous.keys() | entries.hashes.keys()
            if previous.get(user) != entries.hashes.get(user)
        }
        if changed and self._on_change is not None:
            self._on_change(changed)

    def _changed(self) -> bool:
        try:
            return _signature(os.stat(self._path)) != self._signature
        except OSError:
            return False

    async def refresh(self) -> None:
        now = self._clock()
        if now - self._checked_at < self._check_interval:
            return
        self._checked_at = now
        if not self._changed():
            return
        async with self._reload_lock:
            if not self._changed():
                return
            try:
                await asyncio.to_thread(self._load)
                log.info(
                    "htpasswd file reloaded", file=str(self._path), users=len(self._entries.hashes)
                )
            except OSError as exc:
                # keep serving the last good content rather than locking everyone out
                log.error(
                    "htpasswd file unreadable, keeping previous content",
                    file=str(self._path),
                    error=exc.strerror,
                )

    def password_hash_of(self, username: str) -> str | None:
        """The account's password hash now (the console's sessions compare a fingerprint)."""
        return self._entries.hashes.get(username)

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        hashes = self._entries.hashes
        if username not in hashes:
            return AuthResult.unknown()
        encoded = hashes[username]
        if encoded is None:
            await self.verify_dummy(password)  # as long as a wrong password takes
            return AuthResult.denied("unsupported password hash format in htpasswd")
        if await verify_password_off_loop(encoded, password.encode()):
            return AuthResult.success(Identity(username, self.name), cacheable=True)
        return AuthResult.denied("wrong password")

    async def verify_dummy(self, password: Secret) -> bool:
        if self._dummy is None:
            return False
        await verify_password_off_loop(self._dummy, password.encode())
        return True
