"""Users of an LDAP directory or Active Directory, with their groups (the ``ldap:`` section).

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
``devs``). After a successful bind the user gets a database row of source ``ldap`` (creating it
at the first login), their ``ldap`` groups become exactly the directory's (so role grants to
those groups apply), and the identity carries every group of the user, LDAP and local, as
``groups`` and as the label ``groups``, plus the ``label_attributes``. The account name is the
directory's ``username_attribute`` value when it names the same user (so ``Bob`` and ``bob``
are one account).

Answers: a name regauth cannot hold → UNKNOWN without asking the directory; an empty password →
DENIED without a bind (an empty simple bind is an anonymous bind, which succeeds); an
unreachable, slow or failing directory → :class:`BackendUnavailable`, never a grant.

ldap3 blocks, so all directory work runs on a dedicated pool of ``pool_size`` threads, never on
the event loop, with ``timeout`` on every connect, TLS handshake and answer, and a deadline on
the whole lookup. Connections are kept and reused rather than opened per request: one pool bound
as the service account for searches, and one for checking passwords, handed out only to bind
as a user first. A user's bind therefore never carries over into a search as the service
account, and a connection that fails is closed, never returned. Several URLs are tried in
order, a URL that could not be reached is tried last for a while. TLS (``ldaps://`` or
``start_tls``) always verifies the certificate chain against ``ca_file`` (or the system's CAs)
and the host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import re
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from string import hexdigits
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog

from regauth.accounts import (
    AccountService,
    Conflict,
    InvalidInput,
    check_email,
    check_group_name,
    check_username,
)
from regauth.authn.base import AuthResult, Identity
from regauth.authn.database import identity_for_user
from regauth.config import LdapConfig
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 deprecates (tagMap, typeMap); harmless, and
    # only at import time
    warnings.filterwarnings(
        "ignore", message=r"(tagMap|typeMap) is deprecated", category=DeprecationWarning
    )
    from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, SYNC, Connection, Server, Tls
    from ldap3.core.exceptions import (
        LDAPCommunicationError,
        LDAPException,
        LDAPInvalidDnError,
    )
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn, parse_dn

__all__ = [
    "SOURCE",
    "DirectoryUser",
    "LdapAuthenticator",
    "LdapConfigError",
    "LdapDirectory",
    "group_filter",
    "group_name_from_dn",
    "user_dn",
    "user_filter",
]

log = structlog.get_logger("regauth.authn.ldap")

#: the ``source`` of the users and groups this backend creates
SOURCE = "ldap"
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
#: a URL that could not be reached is tried after the others for this long (seconds)
_DOWN_PENALTY = 30.0
_MAX_GROUPS = 1000
_PLACEHOLDER = re.compile(r"\{(username|dn)\}")

T = TypeVar("T")


class LdapConfigError(ValueError):
    """The ``ldap:`` section cannot work (an unreadable CA file, no base for group searches)."""


# ------------------------------------------------------------------------------ pure helpers


def _substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{username}`` / ``{dn}`` in one pass, so a value is never substituted again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def user_filter(template: str, username: str) -> str:
    """The user search filter with ``{username}`` escaped for a filter (RFC 4515)."""
    return _substitute(template, {"username": escape_filter_chars(username)})


def user_dn(template: str, username: str) -> str:
    """The DN to bind as with ``{username}`` escaped as an RDN value (RFC 4514)."""
    # ldap3's escape_rdn writes NUL as backslash + NUL, which RFC 4514 spells \00, and
    # fails on an empty value
    escaped = escape_rdn(username).replace("\\\x00", "\\00") if username else ""
    return _substitute(template, {"username": escaped})


def group_filter(template: str, dn: str, username: str) -> str:
    """The group search filter with ``{dn}`` and ``{username}`` escaped for a filter."""
    return _substitute(
        template, {"dn": escape_filter_chars(dn), "username": escape_filter_chars(username)}
    )


def _unescape_dn_value(value: str) -> str | None:
    """An RDN value as written in a DN (``Dev\\, Ops``, ``caf\\c3\\a9``) → its text."""
    if value.startswith("#"):  # a BER-encoded value: not a name we can use
        return None
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in hexdigits for c in pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += char.encode()
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def group_name_from_dn(dn: str, attribute: str) -> str | None:
    """The ``attribute`` value of the DN's first RDN (``cn=devs,ou=groups,...`` → ``devs``)."""
    try:
        components = parse_dn(dn)
    except LDAPInvalidDnError:
        return None
    for name, value, separator in components:
        if name.lower() == attribute.lower():
            return _unescape_dn_value(value)
        if separator != "+":  # the end of the first RDN
            break
    return None


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


# ------------------------------------------------------------------------------ directory


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """What the directory says about a user whose password it accepted."""

    dn: str
    username: str
    email: str | None
    groups: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


Lookup = DirectoryUser | AuthResult


def _unavailable(reason: str) -> BackendUnavailable:
    return BackendUnavailable(
        "the LDAP directory is unavailable; try again later", log_reason=f"ldap: {reason}"
    )


_WRAPPED = re.compile(r"""\((['"])(.*)\1,\)""", re.DOTALL)


def _describe(exc: BaseException) -> str:
    """The error's text; ldap3 re-raises errors wrapped in tuples (``"('error',)"``)."""
    text = str(exc).strip() or type(exc).__name__
    while (wrapped := _WRAPPED.fullmatch(text)) is not None:
        text = wrapped.group(2)
    return text[:300]


def _result(conn: Connection) -> tuple[int, str]:
    result = conn.result or {}
    code = result.get("result")
    return (code if isinstance(code, int) else -1), str(result.get("description") or "no answer")


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


class _VerifyingTls(Tls):
    """ldap3's Tls wrapping sockets with a strict :class:`ssl.SSLContext`: the chain must verify
    and the certificate must name the host (ldap3 itself turns ``check_hostname`` off and calls
    the deprecated ``ssl.match_hostname``)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise LdapConfigError(f"ldap.ca_file: cannot load {ca_file}: {_describe(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class _Pool:
    """Idle connections of one kind, reused across lookups (taken by one thread at a time)."""

    def __init__(self, open_connection: Callable[[], Connection], size: int) -> None:
        self._open = open_connection
        self._size = size
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self, *, fresh: bool = False) -> tuple[Connection, bool]:
        """An idle connection (True: it was used before) or a new one (False)."""
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop(), True
        return self._open(), False

    def give_back(self, conn: Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._size and not conn.closed:
                self._idle.append(conn)
                return
        _close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def __len__(self) -> int:
        return len(self._idle)


def _close(conn: Connection) -> None:
    """Unbind and close; also the socket of a connection that never opened."""
    with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


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
        uses_tls = config.start_tls or any(u.startswith("ldaps://") for u in config.url)
        self._tls = _VerifyingTls(_tls_context(_path(config.ca_file))) if uses_tls else None
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._opened = 0
        self._service = _Pool(self._open_service, config.pool_size)
        self._binder = _Pool(self._open_anonymous, config.pool_size)
        attributes = [config.username_attribute, config.email_attribute]
        if config.group_membership == "memberof":
            attributes.append(config.group_attribute)
        attributes += config.label_attributes.values()
        self._attributes: list[str] = []
        for attribute in attributes:
            if attribute.lower() not in (a.lower() for a in self._attributes):
                self._attributes.append(attribute)

    def _server(self, url: str) -> Server:
        """A new Server per connection: ldap3 keeps per-server state (the current address,
        availability) that must not be shared between threads or outlive a failure."""
        parts = urlsplit(url)
        secure = parts.scheme == "ldaps"
        return Server(
            parts.hostname or "",
            port=parts.port or (636 if secure else 389),
            use_ssl=secure,
            tls=self._tls,
            get_info=NONE,
            connect_timeout=self._config.timeout,
        )

    @property
    def connections_opened(self) -> int:
        """Connections opened since start (for tests and metrics)."""
        return self._opened

    @property
    def idle_connections(self) -> int:
        return len(self._service) + len(self._binder)

    # -------------------------------------------------------------------- connections

    def _ordered_urls(self) -> list[str]:
        """The URLs in configured order, those that failed lately last."""
        now = time.monotonic()
        with self._lock:
            down = {u for u, until in self._down_until.items() if until > now}
        urls = self._config.url
        return [u for u in urls if u not in down] + [u for u in urls if u in down]

    def _connect(self, *, as_service: bool) -> Connection:
        problems = []
        for url in self._ordered_urls():
            conn = Connection(
                self._server(url),
                user=self._config.bind_dn if as_service else None,
                password=(
                    self._config.bind_password.reveal()
                    if as_service and self._config.bind_password is not None
                    else None
                ),
                authentication=SIMPLE if as_service else ANONYMOUS,
                client_strategy=SYNC,
                # the socket keeps the connect timeout for every later send, receive and TLS
                # handshake (ldap3's receive_timeout would only take whole seconds)
                receive_timeout=None,
                read_only=True,
                raise_exceptions=False,
                auto_referrals=False,
                check_names=True,
            )
            try:
                conn.open(read_server_info=False)
                if self._config.start_tls and not conn.start_tls(read_server_info=False):
                    raise _Failed(f"StartTLS refused: {_result(conn)[1]}")
                if as_service and not conn.bind(read_server_info=False):
                    raise _Failed(f"service account bind refused: {_result(conn)[1]}")
            except (LDAPException, _Failed, OSError) as exc:
                _close(conn)
                problems.append(f"{url}: {_describe(exc)}")
                with self._lock:
                    self._down_until[url] = time.monotonic() + _DOWN_PENALTY
                continue
            with self._lock:
                self._down_until.pop(url, None)
                self._opened += 1
            return conn
        raise _unavailable("; ".join(problems))

    def _open_service(self) -> Connection:
        return self._connect(as_service=True)

    def _open_anonymous(self) -> Connection:
        return self._connect(as_service=False)

    def _use(self, pool: _Pool, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a pooled connection; a kept connection that turns out dead (the
        server restarted or dropped it) is replaced once. Any failure closes the connection."""
        for fresh in (False, True):
            conn, reused = pool.take(fresh=fresh)
            try:
                result = work(conn)
            except LDAPCommunicationError as exc:
                _close(conn)
                if reused:  # then try once more on a new connection
                    continue
                raise _unavailable(_describe(exc)) from None
            except (LDAPException, OSError) as exc:
                _close(conn)
                raise _unavailable(_describe(exc)) from None
            except BaseException:
                _close(conn)
                raise
            pool.give_back(conn)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._service.close()
        self._binder.close()

    # -------------------------------------------------------------------- operations

    def lookup(self, username: str, password: Secret) -> Lookup:
        """Find ``username``, check ``password``; the user, or UNKNOWN / DENIED.

        Raises :class:`BackendUnavailable` when the directory cannot answer. The caller has
        already refused empty passwords and names regauth cannot hold.
        """
        if self._search_mode:
            found = self._use(self._service, functools.partial(self._find, username))
            if isinstance(found, AuthResult):
                return found
            dn, entry = found
            refused = self._use(self._binder, functools.partial(self._bind, dn, password))
            if refused is not None:
                return refused
            return self._user(username, dn, entry, None)
        dn = user_dn(self._config.user_dn_template or "", username)
        return self._use(self._binder, functools.partial(self._as_user, username, dn, password))

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
        code, description = _result(conn)
        if code not in (_SUCCESS, _SIZE_LIMIT):
            if code == _NO_SUCH_OBJECT:
                description = f"base_dn {self._config.base_dn!r} does not exist"
            raise _unavailable(f"user search failed: {description}")
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
        code, description = _result(conn)
        if code == INVALID_CREDENTIALS:
            return AuthResult.denied("wrong password")
        if code in _LOGIN_REFUSED:
            return AuthResult.denied(f"the directory refused the login: {description}")
        raise _unavailable(f"bind as {dn!r} failed: {description}")

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
        code, description = _result(conn)
        if code not in (_SUCCESS, _NO_SUCH_OBJECT, _INSUFFICIENT_ACCESS):
            raise _unavailable(f"reading {dn!r} failed: {description}")
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
            names = search(conn) if conn is not None else self._use(self._service, search)
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
        code, description = _result(conn)
        if code == _SIZE_LIMIT:
            log.warning("ldap group search hit the size limit", dn=dn, limit=_MAX_GROUPS)
        elif code != _SUCCESS:
            if code == _NO_SUCH_OBJECT:
                description = f"group_base_dn {self._group_base!r} does not exist"
            raise _unavailable(f"group search failed: {description}")
        names: list[str | None] = []
        for entry in _entries(conn):
            name = group_name_from_dn(str(entry["dn"]), config.group_name_attribute)
            if name is None:
                values = _values(entry, config.group_name_attribute)
                name = values[0] if len(values) == 1 else None
            names.append(name)
        return names


class _Failed(Exception):
    """A step of opening a connection was refused (StartTLS, the service account's bind)."""


def _path(value: object) -> str | None:
    return None if value is None else str(value)


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


# ------------------------------------------------------------------------------ authenticator


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
            raise _unavailable("the LDAP backend is shut down")
        found = await self._lookup(username, password)
        if isinstance(found, AuthResult):
            return found
        recorded = await self._accounts.database.run(functools.partial(self._record, found))
        if isinstance(recorded, AuthResult):
            return recorded
        return AuthResult.success(recorded, cacheable=True)

    async def _lookup(self, username: str, password: Secret) -> Lookup:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._directory.lookup, username, password)
        try:
            return await asyncio.wait_for(work, self._deadline)
        except TimeoutError:
            error = _unavailable(f"no answer within {self._deadline:g}s")
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
        groups = tuple(self._accounts.get_user(user.username).groups)
        identity = identity_for_user(
            user_id, user.username, groups, is_admin, method=self.name, credential="password"
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
