"""The person's side of the device sign-in: ``/device``.

``GET /device`` (``?user_code=`` fills the form in) asks for the code a machine shows;
``POST /device`` shows which machine asks (its name, address and time) with Approve and Deny;
``POST /device/approve`` and ``POST /device/deny`` decide, once. Only a signed-in person can
approve, for themselves; accounts that cannot hold personal access tokens (static and htpasswd
users) are told so, since the machine's credentials are such tokens.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import AccountError, Conflict, InvalidInput, NotFound, SessionStart
from regauth.web.console.context import Console, PageError, Viewer

__all__ = ["routes"]

log = structlog.get_logger("regauth.device")


def _approver(viewer: Viewer) -> SessionStart:
    session = viewer.session
    return SessionStart(
        username=session.username,
        method=session.method,
        user_id=session.user_id,
        fingerprint=session.fingerprint,
        labels={k: list(v) for k, v in session.labels.items()},
        groups=session.groups,
    )


def routes(console: Console) -> list[BaseRoute]:
    async def enter(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        return console.render(
            request,
            "device.html",
            viewer=viewer,
            active="",
            user_code=request.query_params.get("user_code", "")[:16],
            errors={},
            pending=None,
        )

    async def confirm(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        form = await console.form(request, viewer)
        user_code = form.text("user_code")[:16]
        try:
            pending = await console.run(console.accounts.find_device_request, user_code)
        except (InvalidInput, NotFound) as exc:
            status = 400 if isinstance(exc, InvalidInput) else 404
            return console.render(
                request,
                "device.html",
                viewer=viewer,
                status=status,
                active="",
                user_code=user_code,
                errors={"user_code": exc.message},
                pending=None,
            )
        return console.render(
            request,
            "device.html",
            viewer=viewer,
            active="",
            user_code=user_code,
            errors={},
            pending=pending,
        )

    async def decide(request: Request, approve: bool) -> Response:
        viewer = await console.require_viewer(request)
        form = await console.form(request, viewer)
        user_code = form.text("user_code")[:16]
        if approve and not viewer.has_row:
            raise PageError(
                403,
                "Your account comes from the configuration or the htpasswd file and cannot hold "
                "personal access tokens, which a signed-in machine uses; ask an administrator "
                "for a database account.",
            )
        try:
            decided = await console.run(
                console.accounts.decide_device_request,
                user_code,
                approve=approve,
                approver=_approver(viewer) if approve else None,
            )
        except (InvalidInput, NotFound, Conflict) as exc:
            status = {InvalidInput: 400, NotFound: 404, Conflict: 409}[type(exc)]
            raise PageError(status, exc.message) from None
        except AccountError as exc:  # pragma: no cover - every kind is listed above
            raise PageError(400, exc.message) from None
        log.info(
            "device sign-in approved" if approve else "device sign-in denied",
            user=viewer.username,
            client_name=decided.client_name,
            client=decided.address,
        )
        return console.render(
            request, "device_done.html", viewer=viewer, active="", approved=approve, decided=decided
        )

    async def approve(request: Request) -> Response:
        return await decide(request, True)

    async def deny(request: Request) -> Response:
        return await decide(request, False)

    if not console.config.devices.enabled:
        return []
    return [
        Route(console.route("/device"), enter, methods=["GET", "HEAD"]),
        Route(console.route("/device"), confirm, methods=["POST"]),
        Route(console.route("/device/approve"), approve, methods=["POST"]),
        Route(console.route("/device/deny"), deny, methods=["POST"]),
    ]
