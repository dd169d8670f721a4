"""What a running server can take from a changed configuration, and what needs a restart.

A reload (SIGHUP, or a changed file with ``server.watch_config``) applies everything that
decides a token request; the listening socket, TLS files, the database, the signing key's
settings and the metrics registry are set up once per process and keep their values until a
restart. ``--workers`` is a command-line option and never part of the file.
"""

from __future__ import annotations

from typing import Any

from regauth.config.root import Config
from regauth.config.server import ServerConfig

__all__ = ["RESTART_ONLY", "restart_only_changes", "with_restart_only_from"]

#: dotted keys a reload cannot change
RESTART_ONLY = (
    "server.listen",
    "server.certificate",
    "server.key",
    # the request limits: each worker's HTTP protocol takes them once, at start
    "server.max_request_line",
    "server.max_header_size",
    "server.max_total_header_size",
    "server.max_headers",
    "server.max_pending_headers_size",
    "server.header_timeout",
    "server.body_timeout",
    "server.keepalive_timeout",
    # the supervisor decides at start whether it watches the file
    "server.watch_config",
    "database",
    # the background writer and the log are set up once per process
    "audit",
    "log",
    "metrics",
    "token.key",
    "token.certificate",
    "token.algorithm",
    "token.kid",
    "token.x5c",
)


def _value(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """The keys of :data:`RESTART_ONLY` whose value differs between ``old`` and ``new``."""
    return [key for key in RESTART_ONLY if _value(old, key) != _value(new, key)]


def with_restart_only_from(old: Config, new: Config) -> Config:
    """``new``, with the values only a restart can change taken from ``old``."""
    server = new.server.model_copy(
        update={
            name: getattr(old.server, name)
            for name in (key.removeprefix("server.") for key in RESTART_ONLY)
            if name in ServerConfig.model_fields
        }
    )
    token = new.token.model_copy(
        update={
            name: getattr(old.token, name)
            for name in ("key", "certificate", "algorithm", "kid", "x5c")
        }
    )
    sections = {name: getattr(old, name) for name in RESTART_ONLY if "." not in name}
    return new.model_copy(update={"server": server, "token": token, **sections})
