"""The admin API assembled: a FastAPI app with every resource router under
``{path_prefix}/api/v1``, its error handlers, its OpenAPI document, behind :class:`AdminGate`."""

from __future__ import annotations

from fastapi import FastAPI

from regauth.clock import Clock, utcnow
from regauth.runtime import Runtime
from regauth.web.api.audit import router as audit_router
from regauth.web.api.docs import install_docs, public_doc_paths
from regauth.web.api.gate import (
    AdminGate,
    RoutePrecedence,
    RouteTable,
    install_error_handlers,
)
from regauth.web.api.grants import router as grants_router
from regauth.web.api.groups import router as groups_router
from regauth.web.api.keys import router as keys_router
from regauth.web.api.lockouts import router as lockouts_router
from regauth.web.api.openapi import openapi_builder
from regauth.web.api.refresh_tokens import router as refresh_tokens_router
from regauth.web.api.registry_events import router as registry_events_router
from regauth.web.api.robots import router as robots_router
from regauth.web.api.routing import ApiSettings
from regauth.web.api.sessions import router as sessions_router
from regauth.web.api.tokens import router as tokens_router
from regauth.web.api.users import router as users_router
from regauth.web.api.whoami import router as whoami_router

__all__ = ["create_admin_api"]

#: one router per resource; routes are matched, and listed in the OpenAPI document, in this order
_ROUTERS = (
    users_router,
    groups_router,
    grants_router,
    robots_router,
    tokens_router,
    refresh_tokens_router,
    sessions_router,
    lockouts_router,
    audit_router,
    registry_events_router,
    keys_router,
    whoami_router,
)

_DESCRIPTION = (
    "Users, groups, grants, robots, personal access and refresh tokens, the audit "
    "trail, the registry's events and repository index, and the token signing keys. "
    "Authenticate with an administrator's unrestricted personal access token: "
    "`Authorization: Bearer regauth_pat_...` (or HTTP Basic with the username and the "
    'token). Errors are JSON: `{"error": code, "message": sentence}`. '
    "A method a path does not take is answered 405 with an `Allow` header naming the methods "
    "it takes; a path names the route whose template matches it most literally "
    "(`/users/import` is the import, never a user named `import`)."
)


def create_admin_api(runtime: Runtime, *, clock: Clock = utcnow) -> FastAPI:
    """The admin API as an ASGI app serving ``{path_prefix}/api/v1/...`` (full paths)."""
    base = f"{runtime.config.server.path_prefix}/api/v1"
    app = FastAPI(
        title="regauth admin API",
        version="1",
        description=_DESCRIPTION,
        openapi_url=f"{base}/openapi.json",
        docs_url=None,  # served by regauth.web.api.docs, with no CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.regauth = ApiSettings(runtime, clock, base)
    install_docs(app, base=base, openapi_url=f"{base}/openapi.json", title=app.title)
    for router in _ROUTERS:
        app.include_router(router, prefix=base)
    app.openapi = openapi_builder(app)  # type: ignore[method-assign]
    routes = [route for router in _ROUTERS for route in router.routes]
    install_error_handlers(app, base=base, routes=routes)
    app.add_middleware(RoutePrecedence, table=RouteTable(base, routes))
    app.add_middleware(
        AdminGate,
        runtime=runtime,
        clock=clock,
        public_paths=frozenset({f"{base}/openapi.json"}) | public_doc_paths(base),
    )
    return app
