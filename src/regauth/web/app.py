"""The ASGI application: a small router in front of the lean endpoints."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from regauth.events import TokenEventLog
from regauth.runtime import Runtime
from regauth.web.client_address import ClientAddressResolver
from regauth.web.grant_memo import GrantMemo
from regauth.web.responses import Receive, Scope, Send, send_bytes, send_json
from regauth.web.token_endpoint import TokenEndpoint

if TYPE_CHECKING:
    from regauth.config import Config
    from regauth.metrics import Metrics
    from regauth.protocol.secret import Secret
    from regauth.web.reload import Reloader

__all__ = ["create_app"]

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
_KEYCLOAK_PATH = re.compile(r"/auth/realms/[^/]+/protocol/docker-v2/auth")
#: at most this many remembered grants per process (a few KiB each)
MAX_REMEMBERED_GRANTS = 4096


class RegauthApp:
    def __init__(self, runtime: Runtime, *, reloader: Reloader | None = None) -> None:
        self._runtime = runtime
        self._reloader = reloader
        self._metrics: Metrics | None = None
        if runtime.config.metrics.enabled:
            from regauth.metrics import Metrics

            self._metrics = Metrics()
            runtime.writer.on_flush = self._metrics.audit_flushed
        self._build()

    def _build(self) -> None:
        """The endpoints for the runtime's configuration (again after each reload)."""
        runtime = self._runtime
        config = runtime.config
        metrics = self._metrics
        if metrics is not None:
            runtime.authenticators.on_backend_error = metrics.backend_error
            runtime.authenticators.on_refused = metrics.login_refused
            if runtime.authenticators.limiter is not None:
                runtime.authenticators.limiter.on_lockout = metrics.account_locked
        self._prefix = config.server.path_prefix
        cache = config.credential_cache
        token = TokenEndpoint(
            runtime.service,
            TokenEventLog(audit=runtime.writer.audit, metrics=metrics),
            ClientAddressResolver(config.server.proxy_headers, config.server.trusted_proxies),
            basic_realm=config.token.issuer,
            # repeated requests reuse their grant while the login stays cached (ttl 0: never)
            memo=(
                GrantMemo(min(cache.max_entries, MAX_REMEMBERED_GRANTS))
                if cache.ttl > 0 and cache.max_entries > 0
                else None
            ),
        )
        self._token = token
        routes: dict[str, Handler] = {
            f"{self._prefix}/auth": token,
            f"{self._prefix}/token": token,
            f"{self._prefix}/healthz": self._health,
            f"{self._prefix}/.well-known/jwks.json": self._serve_jwks,
        }
        if metrics is not None:
            routes[f"{self._prefix}/metrics"] = self._serve_metrics
        secret = config.registry.notification_secret
        if secret is not None:  # never without a secret
            routes[f"{self._prefix}/registry/events"] = self._registry_events(secret, metrics)
        self._routes = routes
        self._api_prefix = f"{self._prefix}/api/"
        self._admin_api: Handler | None = None
        self._login_path = f"{self._prefix}/login"
        self._login_app: Handler | None = None
        self._console_enabled = config.console.enabled
        self._console_app: Handler | None = None

    async def reconfigure(self, config: Config) -> list[str]:
        """Serve with a new configuration from the next request on (built off the event
        loop, see :meth:`Runtime.prepare`); the keys only a restart can change are returned."""
        prepared = await asyncio.to_thread(self._runtime.prepare, config)
        self._runtime.apply(prepared)
        self._build()
        return prepared.needs_restart

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            handler = self._routes.get(path)
            if (
                handler is None
                and path.startswith(self._prefix)
                and _KEYCLOAK_PATH.fullmatch(path[len(self._prefix) :])
            ):
                handler = self._token
            if handler is None and (
                path.startswith(self._api_prefix) or path + "/" == self._api_prefix
            ):
                handler = self._admin()
            if handler is None and path.startswith(self._login_path + "/"):
                handler = self._login()  # single sign-on: /login/NAME and its callback
            if handler is None and self._console_enabled:
                handler = self._console()  # every other path: the web console's pages
            if handler is None and path == self._login_path:
                handler = self._login()
            if handler is None:
                error = {"code": "NOT_FOUND", "message": f"no such resource: {path[:200]}"}
                await send_json(send, 404, {"errors": [error]})
                return
            await handler(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._runtime.start()
                    if self._reloader is not None:
                        self._reloader.start(self)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)[:500]})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._reloader is not None:
                    await self._reloader.stop()
                if self._metrics is not None:
                    self._metrics.flush()
                await self._runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _admin(self) -> Handler:
        """The admin API, built on first use so FastAPI is imported only when it is needed."""
        if self._admin_api is None:
            from regauth.web.api import create_admin_api

            self._admin_api = create_admin_api(self._runtime)
        return self._admin_api

    def _registry_events(self, secret: Secret, metrics: Metrics | None) -> Handler:
        """``/registry/events``: the registry's notifications (:mod:`.registry_events`)."""
        import datetime

        from regauth.activity import EventIngest
        from regauth.web.registry_events import RegistryEventsEndpoint

        config = self._runtime.config
        ingest = EventIngest(
            self._runtime.database,
            record_pulls=config.events.record_pulls,
            retention=datetime.timedelta(days=config.events.retention_days),
        )
        return RegistryEventsEndpoint(ingest, secret.reveal(), metrics)

    def _login(self) -> Handler:
        """The single sign-on pages (``/login``), built on first use."""
        if self._login_app is None:
            from regauth.web.login import create_login_app

            self._login_app = create_login_app(self._runtime)
        return self._login_app

    def _console(self) -> Handler:
        """The web console's pages, built on first use (Jinja2 is imported only then)."""
        if self._console_app is None:
            from regauth.web.console import create_console_app

            self._console_app = create_console_app(self._runtime)
        return self._console_app

    async def _health(self, _scope: Scope, _receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _serve_metrics(self, scope: Scope, _receive: Receive, send: Send) -> None:
        metrics = self._metrics
        if metrics is None:  # pragma: no cover - the route exists only with metrics
            return
        if scope["method"] not in ("GET", "HEAD"):
            error = {"code": "UNSUPPORTED", "message": "use GET for /metrics"}
            await send_json(send, 405, {"errors": [error]}, [(b"allow", b"GET, HEAD")])
            return
        metrics.flush()  # this worker's latest requests
        # reading every worker's files is file I/O: off the event loop
        body, content_type = await asyncio.to_thread(metrics.render)
        await send_bytes(
            send,
            200,
            body,
            [(b"content-type", content_type.encode("latin-1")), (b"cache-control", b"no-store")],
        )

    async def _serve_jwks(self, _scope: Scope, _receive: Receive, send: Send) -> None:
        # the published keys now: a key rotation (another process's too) shows on the next
        # request; caches may keep it a minute, so a key added is trusted soon enough
        await self._runtime.watcher.catch_up()
        await send_bytes(
            send,
            200,
            self._runtime.key_ring.jwks_json(),
            [(b"content-type", b"application/json"), (b"cache-control", b"max-age=60")],
        )


def create_app(runtime: Runtime, *, reloader: Reloader | None = None) -> RegauthApp:
    return RegauthApp(runtime, reloader=reloader)
