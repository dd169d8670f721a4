"""The directory queries: find a user, check their password, read their groups.

Finding the user, one of two ways:

* **search, then bind** (``bind_dn`` + ``bind_password``): a connection bound as the service
  account searches ``base_dn`` with ``user_filter``, ``{username}`` escaped as RFC 4515
  requires; no entry is "not mine", more than one is refused; the password is then checked by
  a simple bind as the entry's DN on a separate connection.
* **bind as the user** (``user_dn_template``, ``{username}`` escaped as RFC 4514 requires): a
  simple bind as that DN, then the user reads their own entry. A directory answers a bind for
  an unknown DN and a wrong password alike, so here both are "wrong password".

Groups come from the entry's ``memberOf`` (operational, so asked for by name), from a search
with ``group_filter`` under ``group_base_dn``, or not at all; a group's name is the
``group_name_attribute`` value of the first RDN of its DN (``cn=devs,ou=groups,...`` →
``devs``). The account name is the directory's ``username_attribute`` value when it names the
same user (so ``Bob`` and ``bob`` are one account).

:class:`LdapDirectory` blocks: call it from worker threads. It answers with a
:class:`DirectoryUser`, UNKNOWN or DENIED, and raises :class:`BackendUnavailable` when the
directory cannot answer.
"""

from __future__ import annotations

import functools
import math
import secrets
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import structlog

from regauth.accounts import InvalidInput, check_email, check_group_name, check_username
from regauth.authn.base import AuthResult, Outcome
from regauth.authn.ldap.errors import LdapConfigError, unavailable
from regauth.authn.ldap.pool import LdapConnections, last_result
from regauth.authn.ldap.syntax import group_filter, group_name_from_dn, user_dn, user_filter
from regauth.config import LdapConfig
from regauth.protocol.secret import Secret

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 deprecates (tagMap, typeMap); harmless, and
    # only at import time
    warnings.filterwarnings(
        "ignore", message=r"(tagMap|typeMap) is deprecated", category=DeprecationWarning
    )
    from ldap3 import BASE, SIMPLE, SUBTREE, Connection

__all__ = ["INVALID_CREDENTIALS", "DirectoryUser", "LdapDirectory", "Lookup"]

# the logger of the whole backend, as before it was split into modules
log = structlog.get_logger("regauth.authn.ldap")

#: result codes of a user's bind that mean "refused", not "the directory failed":
#: invalidCredentials, and what servers answer for locked, expired or disabled accounts
INVALID_CREDENTIALS = 49
_LOGIN_REFUSED = frozenset(
    {
        19,  # constraintViolation: a password policy (locked, expired)
        34,  # invalidDNSyntax: user_dn_template and a name that make no DN are nobody
        50,  # insufficientAccessRights
        53,  # unwillingToPerform: a disabled account
    }
)
_SUCCESS, _SIZE_LIMIT, _NO_SUCH_OBJECT, _INSUFFICIENT_ACCESS = 0, 4, 32, 50
_MAX_GROUPS = 1000


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """What the directory says about a user whose password it accepted."""

    dn: str
    username: str
    email: str | None
    groups: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


Lookup = DirectoryUser | AuthResult


def _nobody() -> str:
    """A name no directory holds: the stand-in for checks that must cost as real ones do."""
    return f"regauth-nobody-{secrets.token_hex(8)}"


class LdapDirectory:
    """The blocking side: finds users and checks passwords. Call it from worker threads."""

    def __init__(self, config: LdapConfig) -> None:
        self._config = config
        self._search_mode = config.bind_dn is not None
        self._group_base = config.group_base_dn or config.base_dn
        if config.group_membership == "search" and self._group_base is None:
            raise LdapConfigError(
                "ldap.group_base_dn: group_membership: search needs group_base_dn (or base_dn)"
            )
        self._connections = LdapConnections(config)
        attributes = [config.username_attribute, config.email_attribute]
        if config.group_membership == "memberof":
            attributes.append(config.group_attribute)
        attributes += config.label_attributes.values()
        self._attributes: list[str] = []
        for attribute in attributes:
            if attribute.lower() not in (a.lower() for a in self._attributes):
                self._attributes.append(attribute)

    @property
    def connections_opened(self) -> int:
        """Connections opened since start (for tests and metrics)."""
        return self._connections.opened

    @property
    def idle_connections(self) -> int:
        return self._connections.idle

    def close(self) -> None:
        self._connections.close()

    def lookup(self, username: str, password: Secret) -> Lookup:
        """Find ``username``, check ``password``; the user, or UNKNOWN / DENIED.

        Raises :class:`BackendUnavailable` when the directory cannot answer. The caller has
        already refused empty passwords and names regauth cannot hold.
        """
        pools = self._connections
        if self._search_mode:
            found = pools.use(pools.service, functools.partial(self._find, username))
            if isinstance(found, AuthResult):
                if found.outcome is Outcome.UNKNOWN:
                    # a bind as nobody: an unknown name costs what a wrong password costs
                    pools.use(
                        pools.binder, functools.partial(self._bind, self._nobody_dn(), password)
                    )
                    return AuthResult.unknown(checked=True)
                return found
            dn, entry = found
            refused = pools.use(pools.binder, functools.partial(self._bind, dn, password))
            if refused is not None:
                return refused
            return self._user(username, dn, entry, None)
        dn = user_dn(self._config.user_dn_template or "", username)
        return pools.use(pools.binder, functools.partial(self._as_user, username, dn, password))

    def verify_dummy(self, password: Secret) -> None:
        """What a wrong password costs here, for a login this directory never saw: a user
        search (search mode) and a bind, both for nobody."""
        pools = self._connections
        if self._search_mode:
            pools.use(pools.service, functools.partial(self._find, _nobody()))
            pools.use(pools.binder, functools.partial(self._bind, self._nobody_dn(), password))
        else:
            dn = user_dn(self._config.user_dn_template or "", _nobody())
            pools.use(pools.binder, functools.partial(self._bind, dn, password))

    def _nobody_dn(self) -> str:
        return f"cn={_nobody()},{self._config.base_dn or ''}".rstrip(",")

    def _find(self, username: str, conn: Connection) -> tuple[str, dict[str, Any]] | AuthResult:
        conn.search(
            self._config.base_dn or "",
            user_filter(self._config.user_filter, username),
            search_scope=SUBTREE,
            attributes=self._attributes,
            size_limit=2,
            time_limit=math.ceil(self._config.timeout),
        )
        entries = _entries(conn)
        code, description = last_result(conn)
        if code not in (_SUCCESS, _SIZE_LIMIT):
            if code == _NO_SUCH_OBJECT:
                description = f"base_dn {self._config.base_dn!r} does not exist"
            raise unavailable(f"user search failed: {description}")
        if not entries:
            return AuthResult.unknown()
        if len(entries) > 1:
            log.warning(
                "ldap user_filter matches several entries; login refused",
                username=username,
                dns=[e.get("dn") for e in entries],
            )
            return AuthResult.denied("several directory entries match this name")
        return str(entries[0]["dn"]), entries[0]

    def _bind(self, dn: str, password: Secret, conn: Connection) -> AuthResult | None:
        """Bind as the user: None when the password is right, DENIED when it is not."""
        conn.user, conn.password, conn.authentication = dn, password.reveal(), SIMPLE
        try:
            bound = conn.bind(read_server_info=False)
        finally:
            # the connection object would otherwise keep the password (and ldap3 keeps the
            # last request, the bind with its password) while it waits in the pool
            conn.password = None
            conn.request = None
        if bound:
            return None
        code, description = last_result(conn)
        if code == INVALID_CREDENTIALS:
            return AuthResult.denied("wrong password")
        if code in _LOGIN_REFUSED:
            return AuthResult.denied(f"the directory refused the login: {description}")
        raise unavailable(f"bind as {dn!r} failed: {description}")

    def _as_user(
        self, username: str, dn: str, password: Secret, conn: Connection
    ) -> DirectoryUser | AuthResult:
        refused = self._bind(dn, password, conn)
        if refused is not None:
            return refused
        conn.search(
            dn,
            "(objectClass=*)",
            search_scope=BASE,
            attributes=self._attributes,
            time_limit=math.ceil(self._config.timeout),
        )
        entries = _entries(conn)
        code, description = last_result(conn)
        if code not in (_SUCCESS, _NO_SUCH_OBJECT, _INSUFFICIENT_ACCESS):
            raise unavailable(f"reading {dn!r} failed: {description}")
        if not entries:
            log.warning("ldap user cannot read their own entry", dn=dn, result=description)
        entry = entries[0] if entries else {"dn": dn}
        return self._user(username, dn, entry, conn)

    def _user(
        self, typed: str, dn: str, entry: Mapping[str, Any], conn: Connection | None
    ) -> DirectoryUser:
        """The user from their entry; a group search runs on ``conn`` (bound as the user) or,
        without one, as the service account."""
        config = self._config
        username = _canonical_username(typed, _values(entry, config.username_attribute))
        email = next(iter(_values(entry, config.email_attribute)), None)
        try:
            email = check_email(email)
        except InvalidInput:
            email = None
        if config.group_membership == "memberof":
            names: Iterable[str | None] = (
                group_name_from_dn(v, config.group_name_attribute)
                for v in _values(entry, config.group_attribute)
            )
        elif config.group_membership == "search":
            search = functools.partial(self._search_groups, dn, username)
            pools = self._connections
            names = search(conn) if conn is not None else pools.use(pools.service, search)
        else:
            names = ()
        groups = _valid_groups(names)
        labels = {
            label: tuple(_values(entry, attribute))
            for label, attribute in config.label_attributes.items()
        }
        return DirectoryUser(dn, username, email, groups, MappingProxyType(labels))

    def _search_groups(self, dn: str, username: str, conn: Connection) -> list[str | None]:
        config = self._config
        conn.search(
            self._group_base or "",
            group_filter(config.group_filter, dn, username),
            search_scope=SUBTREE,
            attributes=[config.group_name_attribute],
            size_limit=_MAX_GROUPS,
            time_limit=math.ceil(config.timeout),
        )
        code, description = last_result(conn)
        if code == _SIZE_LIMIT:
            log.warning("ldap group search hit the size limit", dn=dn, limit=_MAX_GROUPS)
        elif code != _SUCCESS:
            if code == _NO_SUCH_OBJECT:
                description = f"group_base_dn {self._group_base!r} does not exist"
            raise unavailable(f"group search failed: {description}")
        names: list[str | None] = []
        for entry in _entries(conn):
            name = group_name_from_dn(str(entry["dn"]), config.group_name_attribute)
            if name is None:
                values = _values(entry, config.group_name_attribute)
                name = values[0] if len(values) == 1 else None
            names.append(name)
        return names


def _entries(conn: Connection) -> list[dict[str, Any]]:
    return [r for r in conn.response or () if r.get("type") == "searchResEntry"]


def _values(entry: Mapping[str, Any], attribute: str) -> list[str]:
    raw: Mapping[str, Any] = entry.get("raw_attributes") or {}
    for name, values in raw.items():
        if name.lower() == attribute.lower():
            decoded = []
            for value in values:
                try:
                    decoded.append(value.decode("utf-8") if isinstance(value, bytes) else value)
                except UnicodeDecodeError:
                    continue  # a binary value is nobody's name
            return decoded
    return []


def _canonical_username(typed: str, values: Sequence[str]) -> str:
    """The directory's spelling of the account name, when it names the same user."""
    if not values or typed in values:
        return typed
    same = [v for v in values if v.casefold() == typed.casefold()]
    for candidate in same or (values if len(values) == 1 else []):
        try:
            return check_username(candidate)
        except InvalidInput:
            continue
    return typed


def _valid_groups(names: Iterable[str | None]) -> tuple[str, ...]:
    groups = set()
    for name in names:
        if name is None:
            continue
        try:
            groups.add(check_group_name(name))
        except InvalidInput:
            log.warning("ldap group name cannot be a regauth group; ignored", group=name[:80])
    return tuple(sorted(groups))
