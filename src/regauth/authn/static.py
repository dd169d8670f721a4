"""Static users from the configuration file, in docker_auth's ``users:`` syntax."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from regauth.authn.base import AuthResult, Identity
from regauth.credentials.passwords import dummy_hash_like, verify_password_off_loop
from regauth.protocol.secret import Secret

__all__ = ["StaticAccount", "StaticUsersAuthenticator"]


@dataclass(frozen=True, slots=True)
class StaticAccount:
    password_hash: Secret
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


class StaticUsersAuthenticator:
    name = "static"

    def __init__(self, accounts: Mapping[str, StaticAccount]) -> None:
        self._accounts = dict(accounts)
        self._dummy = dummy_hash_like(self.password_hashes)

    @property
    def password_hashes(self) -> list[str]:
        return [a.password_hash.reveal() for a in self._accounts.values()]

    async def refresh(self) -> None:
        return None

    def password_hash_of(self, username: str) -> str | None:
        """The account's password hash now (the console's sessions compare a fingerprint)."""
        account = self._accounts.get(username)
        return account.password_hash.reveal() if account is not None else None

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        account = self._accounts.get(username)
        if account is None:
            return AuthResult.unknown()
        if await verify_password_off_loop(account.password_hash.reveal(), password.encode()):
            return AuthResult.success(Identity(username, self.name, account.labels), cacheable=True)
        return AuthResult.denied("wrong password")

    async def verify_dummy(self, password: Secret) -> bool:
        if self._dummy is None:
            return False
        await verify_password_off_loop(self._dummy, password.encode())
        return True
