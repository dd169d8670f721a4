"""The ``ldap`` backend of the authenticator chain: directory users become regauth identities.

After a successful bind the user gets a database row of source ``ldap`` (creating it at the
first login), their ``ldap`` groups become exactly the directory's (so role grants to those
groups apply), and the identity carries every group of the user, LDAP and local, as ``groups``
and as the label ``groups``, plus the ``label_attributes``.

Answers: a name regauth cannot hold → UNKNOWN without asking the directory; an empty password →
DENIED without a bind (an empty simple bind is an anonymous bind, which succeeds); an
unreachable, slow or failing directory → :class:`BackendUnavailable`, never a grant.

ldap3 blocks, so all directory work runs on a dedicated pool of ``pool_size`` threads, never on
the event loop, with ``timeout`` on every connect, TLS handshake and answer, and a deadline on
the whole lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from urllib.parse import urlsplit

import structlog

from regauth.accounts import AccountService, Conflict, InvalidInput, check_username
from regauth.authn.base import AuthResult, Identity
from regauth.authn.database import identity_for_user
from regauth.authn.ldap.directory import DirectoryUser, LdapDirectory, Lookup
from regauth.authn.ldap.errors import unavailable
from regauth.config import LdapConfig
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret

__all__ = ["SOURCE", "LdapAuthenticator"]

# the logger of the whole backend, as before it was split into modules
log = structlog.get_logger("regauth.authn.ldap")

#: the ``source`` of the users and groups this backend creates
SOURCE = "ldap"


class LdapAuthenticator:
    """The ``ldap`` backend of the authenticator chain (see the module docstring)."""

    name = "ldap"

    def __init__(
        self, directory: LdapDirectory, *, accounts: AccountService, timeout: float, pool_size: int
    ) -> None:
        self._directory = directory
        self._accounts = accounts
        self._executor = ThreadPoolExecutor(
            max_workers=pool_size, thread_name_prefix="regauth-ldap"
        )
        # every socket operation is bounded by ``timeout``; this caps a whole lookup (search,
        # bind, groups, and a retry on a fresh connection) even when the threads are all busy
        self._deadline = timeout * 4
        self._closed = False

    @classmethod
    def from_config(cls, config: LdapConfig, *, accounts: AccountService) -> LdapAuthenticator:
        if config.bind_dn is not None and config.user_dn_template is not None:
            log.warning("ldap: bind_dn and user_dn_template both set; searching with bind_dn")
        insecure = [u for u in config.url if u.startswith("ldap://") and not config.start_tls]
        if insecure and not all(_loopback(u) for u in insecure):
            log.warning(
                "ldap: passwords go to the directory unencrypted; use ldaps:// or start_tls",
                urls=insecure,
            )
        return cls(
            LdapDirectory(config),
            accounts=accounts,
            timeout=config.timeout,
            pool_size=config.pool_size,
        )

    @property
    def directory(self) -> LdapDirectory:
        return self._directory

    async def refresh(self) -> None:
        return None

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        try:
            check_username(username)
        except InvalidInput:
            return AuthResult.unknown()
        if not password:
            return AuthResult.denied("empty password")
        if self._closed:
            raise unavailable("the LDAP backend is shut down")
        found = await self._lookup(username, password)
        if isinstance(found, AuthResult):
            return found
        recorded = await self._accounts.database.run(functools.partial(self._record, found))
        if isinstance(recorded, AuthResult):
            return recorded
        return AuthResult.success(recorded, cacheable=True)

    async def verify_dummy(self, password: Secret) -> bool:
        """A search and a bind for nobody: what a wrong password costs here (run by the chain
        for failures this directory did not see). A directory that cannot answer changes no
        answer here: the failure stands."""
        if self._closed or not password:
            return False
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._directory.verify_dummy, password)
        with contextlib.suppress(TimeoutError, BackendUnavailable):
            await asyncio.wait_for(work, self._deadline)
        return True

    async def _lookup(self, username: str, password: Secret) -> Lookup:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._directory.lookup, username, password)
        try:
            return await asyncio.wait_for(work, self._deadline)
        except TimeoutError:
            error = unavailable(f"no answer within {self._deadline:g}s")
        except BackendUnavailable as exc:
            error = exc
        log.error("ldap directory unavailable", username=username, reason=error.log_reason)
        raise error

    def _record(self, user: DirectoryUser) -> Identity | AuthResult:
        """Create or update the user's row and LDAP groups (a database thread)."""
        try:
            user_id, enabled, is_admin = self._accounts.upsert_external_user(
                user.username, source=SOURCE, email=user.email
            )
        except Conflict:
            log.warning("ldap user has the name of a local user; refused", username=user.username)
            return AuthResult.denied("a local user with a password has this name")
        if not enabled:
            return AuthResult.denied("user is disabled")
        self._accounts.sync_external_groups(user.username, user.groups, source=SOURCE)
        stored = self._accounts.get_user(user.username)
        groups = tuple(stored.groups)
        identity = identity_for_user(
            user_id,
            user.username,
            groups,
            is_admin,
            method=self.name,
            credential="password",
            labels={k: tuple(v) for k, v in stored.labels.items()},
        )
        labels = dict(identity.labels)
        for label, values in user.labels.items():
            merged = (*groups, *values) if label == "groups" else values
            labels[label] = tuple(dict.fromkeys(merged))
        return dataclasses.replace(identity, labels=MappingProxyType(labels))

    async def close(self) -> None:
        """Stop the threads and close the kept connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._directory.close)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
