"""Connections to the directory: TLS, the pools that keep them, and the order servers are tried.

Connections are kept and reused rather than opened per request: one pool bound as the service
account for searches, and one for checking passwords, handed out only to bind as a user first.
A user's bind therefore never carries over into a search as the service account, and a
connection that fails is closed, never returned. Several URLs are tried in order; a URL that
could not be reached is tried last for a while. TLS (``ldaps://`` or ``start_tls``) always
verifies the certificate chain against ``ca_file`` (or the system's CAs) and the host name.

Everything here blocks: call it from worker threads, never from the event loop.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from regauth.authn.ldap.errors import ConnectionRefused, LdapConfigError, describe, unavailable
from regauth.config import LdapConfig

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 deprecates (tagMap, typeMap); harmless, and
    # only at import time
    warnings.filterwarnings(
        "ignore", message=r"(tagMap|typeMap) is deprecated", category=DeprecationWarning
    )
    from ldap3 import ANONYMOUS, NONE, SIMPLE, SYNC, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException

__all__ = [
    "ConnectionPool",
    "LdapConnections",
    "close_connection",
    "last_result",
    "tls_context",
]

#: a URL that could not be reached is tried after the others for this long (seconds)
_DOWN_PENALTY = 30.0

T = TypeVar("T")


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


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2 or later, the chain verified against ``ca_file`` (or the system's CAs), the host
    name checked; :class:`LdapConfigError` when the CA file cannot be loaded."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise LdapConfigError(f"ldap.ca_file: cannot load {ca_file}: {describe(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def last_result(conn: Connection) -> tuple[int, str]:
    """The result code (-1 without one) and description of the connection's last operation."""
    result = conn.result or {}
    code = result.get("result")
    return (code if isinstance(code, int) else -1), str(result.get("description") or "no answer")


def close_connection(conn: Connection) -> None:
    """Unbind and close; also the socket of a connection that never opened."""
    with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class ConnectionPool:
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
        close_connection(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            close_connection(conn)

    def __len__(self) -> int:
        return len(self._idle)


class LdapConnections:
    """The two pools of one ``ldap:`` section and the servers behind them, in failover order.

    ``service`` holds connections bound as the service account (``bind_dn``), for searches;
    ``binder`` holds anonymous ones, each handed out only to bind as a user first.
    """

    def __init__(self, config: LdapConfig) -> None:
        self._config = config
        uses_tls = config.start_tls or any(u.startswith("ldaps://") for u in config.url)
        self._tls = _VerifyingTls(tls_context(_path(config.ca_file))) if uses_tls else None
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._opened = 0
        self.service = ConnectionPool(self._open_service, config.pool_size)
        self.binder = ConnectionPool(self._open_anonymous, config.pool_size)

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
    def opened(self) -> int:
        """Connections opened since start."""
        return self._opened

    @property
    def idle(self) -> int:
        """Connections waiting in the two pools."""
        return len(self.service) + len(self.binder)

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
                    raise ConnectionRefused(f"StartTLS refused: {last_result(conn)[1]}")
                if as_service and not conn.bind(read_server_info=False):
                    raise ConnectionRefused(f"service account bind refused: {last_result(conn)[1]}")
            except (LDAPException, ConnectionRefused, OSError) as exc:
                close_connection(conn)
                problems.append(f"{url}: {describe(exc)}")
                with self._lock:
                    self._down_until[url] = time.monotonic() + _DOWN_PENALTY
                continue
            with self._lock:
                self._down_until.pop(url, None)
                self._opened += 1
            return conn
        raise unavailable("; ".join(problems))

    def _open_service(self) -> Connection:
        return self._connect(as_service=True)

    def _open_anonymous(self) -> Connection:
        return self._connect(as_service=False)

    def use(self, pool: ConnectionPool, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a pooled connection; a kept connection that turns out dead (the
        server restarted or dropped it) is replaced once. Any failure closes the connection."""
        for fresh in (False, True):
            conn, reused = pool.take(fresh=fresh)
            try:
                result = work(conn)
            except LDAPCommunicationError as exc:
                close_connection(conn)
                if reused:  # then try once more on a new connection
                    continue
                raise unavailable(describe(exc)) from None
            except (LDAPException, OSError) as exc:
                close_connection(conn)
                raise unavailable(describe(exc)) from None
            except BaseException:
                close_connection(conn)
                raise
            pool.give_back(conn)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.service.close()
        self.binder.close()


def _path(value: object) -> str | None:
    return None if value is None else str(value)
