"""``regauth serve``: prepare the data folder, print the registry settings, run uvicorn.

With ``--workers N`` (N > 1) uvicorn starts N processes; each rebuilds the runtime from the
same configuration through :func:`create_app_from_environment`, after the parent has created
keys and the admin user so the workers never race to do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType

import structlog

from regauth.config import Config, ServerConfig, acl_warnings, load_config
from regauth.datadir import DataDir
from regauth.defaults import bootstrap_admin, default_config
from regauth.events import configure_logging
from regauth.registry_config import render_yaml, settings_for, write_trust_files
from regauth.runtime import Runtime, build_runtime, check_identity_providers
from regauth.web.app import RegauthApp, create_app
from regauth.web.reload import Reloader
from regauth.web.request_limits import RequestLimits

__all__ = [
    "ServeOptions",
    "create_app_from_environment",
    "listen_problem",
    "load_effective_config",
    "run",
]

_ENV_CONFIG = "REGAUTH_SERVE_CONFIG"
_ENV_DATA_DIR = "REGAUTH_DATA_DIR"


@dataclass(frozen=True)
class ServeOptions:
    config_path: Path | None
    data_dir: DataDir
    workers: int
    upgrade: bool = False


def load_effective_config(config_path: Path | None, data_dir: DataDir) -> Config:
    if config_path is None:
        return default_config(data_dir)
    return load_config(config_path)


def tune_memory_allocator() -> None:
    """Return large freed blocks (argon2's 19 MiB) to the system and use few malloc arenas.

    glibc raises its mmap threshold after the first big free and then keeps such blocks in
    per-thread arenas, so a worker that verified a few argon2 hashes on several threads would
    hold on to hundreds of MiB. No effect (and no error) on other C libraries.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold, m_arena_max = -3, -8
    mallopt(m_mmap_threshold, 1024 * 1024)
    mallopt(m_arena_max, 2)


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's way.

    A worker holds a large, long-lived heap (SQLAlchemy, pydantic, the configuration); a full
    collection walking it all stalls requests for milliseconds. Freezing it leaves the
    collector only what requests allocate, and a larger first-generation threshold makes
    those collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app_from_environment() -> RegauthApp:
    """uvicorn factory for worker processes (``--workers`` > 1)."""
    tune_memory_allocator()
    config_text = os.environ.get(_ENV_CONFIG, "")
    config_path = Path(config_text) if config_text else None
    data_dir = DataDir.resolve(os.environ.get(_ENV_DATA_DIR))
    config = load_effective_config(config_path, data_dir)
    configure_logging(config.log.level, config.log.format)
    # SIGHUP comes from the supervisor, which has validated the file (and watches it)
    reloader = Reloader(partial(load_effective_config, config_path, data_dir), path=config_path)
    app = create_app(build_runtime(config, data_dir), reloader=reloader)
    settle_heap()
    return app


def _banner(runtime: Runtime, admin_password: str | None, bundle: Path, jwks: Path) -> str:
    config = runtime.config
    lines = []
    if admin_password is not None:
        lines += [
            "regauth: created the admin user; this password is shown only once:",
            "  username: admin",
            f"  password: {admin_password}",
            "  (add users with `regauth user add NAME`; see `regauth --help`)",
            "",
        ]
    lines += [
        f"regauth: token endpoint {config.server.realm()}",
        f"regauth: database {runtime.database.display_url}",
        "regauth: add this to the registry's config.yml:",
        render_yaml(settings_for(config, bundle, jwks)).rstrip("\n"),
        "",
    ]
    return "\n".join(lines)


def request_limits(server: ServerConfig) -> RequestLimits:
    """The ``server:`` section's request limits, as the HTTP protocol takes them."""
    return RequestLimits(
        max_request_line=server.max_request_line,
        max_header_size=server.max_header_size,
        max_total_header_size=server.max_total_header_size,
        max_headers=server.max_headers,
        max_pending_headers_size=server.max_pending_headers_size,
        header_timeout=server.header_timeout.total_seconds(),
        body_timeout=server.body_timeout.total_seconds(),
        keepalive_timeout=server.keepalive_timeout.total_seconds(),
    )


def http_protocol(limits: RequestLimits) -> Callable[..., asyncio.Protocol] | str:
    """uvicorn's httptools protocol holding requests to ``limits`` and sending each response
    in one write (see :mod:`regauth.web.http_protocol`); uvicorn's own choice where httptools
    is missing. A partial, not a class: uvicorn pickles it into each worker process and calls
    it with its own arguments for every connection; each process gets one copy of the
    :class:`PendingHeads` its connections share."""
    try:
        from regauth.web.http_protocol import HttpProtocol, PendingHeads
    except ImportError:
        return "auto"
    pending = PendingHeads(limits.max_pending_headers_size)
    return partial(HttpProtocol, limits=limits, pending=pending)


def listen_problem(server: ServerConfig) -> str | None:
    """Why ``server.listen`` cannot be bound now (a busy port, an address this host lacks),
    or None. Checked before anything is created or printed; uvicorn binds it again (with the
    same ``SO_REUSEADDR``) a moment later."""
    host, port = server.host_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn binds
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"cannot listen on {server.listen}: {reason} (server.listen, or --listen)"
    return None


def _exit_quietly(_signal: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def run(options: ServeOptions, config: Config) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal against the
    # handler that was installed before it started: make that an orderly exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_quietly)
    tune_memory_allocator()
    metrics_directory = None
    if config.metrics.enabled:
        from regauth.metrics import prepare_multiprocess_directory

        # before any worker starts: every worker writes its metrics there, /metrics sums them
        metrics_directory = prepare_multiprocess_directory()
    try:
        _serve(options, config)
    finally:
        if metrics_directory is not None:
            from regauth.metrics import remove_multiprocess_directory

            remove_multiprocess_directory(metrics_directory)


def _serve(options: ServeOptions, config: Config) -> None:
    import uvicorn

    runtime = build_runtime(config, options.data_dir, upgrade=options.upgrade)
    providers = check_identity_providers(config)  # a wrong issuer URL stops here
    admin_password = bootstrap_admin(runtime.accounts) if options.config_path is None else None
    bundle, jwks = write_trust_files(runtime.key_ring.published(), options.data_dir.path)
    print(_banner(runtime, admin_password, bundle, jwks), flush=True)
    configure_logging(config.log.level, config.log.format)
    for problem in acl_warnings(config.acl):
        structlog.get_logger("regauth.serve").warning("acl rule never matches", problem=problem)
    for check in providers:
        if check.problem is not None:
            structlog.get_logger("regauth.serve").warning(
                "identity provider unreachable at start-up; logins through it fail until it "
                "answers",
                provider=check.provider,
                error=check.problem,
            )
    host, port = config.server.host_port
    limits = request_limits(config.server)
    common = {
        "http": http_protocol(limits),
        "ws": "none",  # regauth serves no WebSockets
        "host": host,
        "port": port,
        "proxy_headers": False,  # regauth decides which proxies to believe (server.proxy_headers)
        "server_header": False,
        "access_log": False,  # the token event is the access log, without secrets
        "log_level": "warning",
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        # the protocol enforces every request limit; these two serve uvicorn's h11 fallback
        "timeout_keep_alive": limits.keepalive_timeout,
        "h11_max_incomplete_event_size": limits.max_request_line + limits.max_total_header_size,
        "ssl_certfile": str(config.server.certificate) if config.server.certificate else None,
        "ssl_keyfile": str(config.server.key) if config.server.key else None,
    }
    load = partial(load_effective_config, options.config_path, options.data_dir)
    if options.workers > 1:
        from regauth.supervisor import ReloadingSupervisor

        runtime.database.dispose()
        os.environ[_ENV_CONFIG] = str(options.config_path or "")
        os.environ[_ENV_DATA_DIR] = str(options.data_dir.path)
        server_config = uvicorn.Config(
            "regauth.serve:create_app_from_environment",
            factory=True,
            workers=options.workers,
            **common,  # type: ignore[arg-type]
        )
        supervisor = ReloadingSupervisor(
            server_config,
            [server_config.bind_socket()],
            load=load,
            current=config,
            path=options.config_path,
            watch=config.server.watch_config,
        )
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run()
    else:
        reloader = Reloader(load, path=options.config_path, watch=config.server.watch_config)
        app = create_app(runtime, reloader=reloader)
        settle_heap()
        uvicorn.run(app, **common)  # type: ignore[arg-type]
    sys.stdout.flush()
