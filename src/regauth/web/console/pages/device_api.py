"""The device sign-in's machine side (RFC 8628), JSON over HTTP:

* ``POST /device/code`` (form: ``client_id``, optional ``client_name``): a device code, a user
  code, ``verification_uri`` (the ``/device`` page), ``verification_uri_complete``,
  ``expires_in`` and ``interval`` (RFC 8628 section 3.2);
* ``POST /device/token`` (form: ``grant_type=urn:ietf:params:oauth:grant-type:device_code``,
  ``device_code``, ``client_id``): RFC 8628 section 3.5's errors, or the device session as a
  Bearer ``access_token``;
* ``POST /device/credential`` (``Authorization: Bearer`` the device session): a short personal
  access token (``devices.credential_lifetime``) for the registry, so no long-lived secret is
  ever handed to the registry clients;
* ``GET /device/session`` (the same header): whether the session is still alive;
  ``DELETE`` ends it (the machine signs out).
"""

from __future__ import annotations

import datetime
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import AccountError, Conflict, LiveSession
from regauth.web.console.context import Console
from regauth.web.console.forms import FormTooLarge, read_form

__all__ = ["GRANT_TYPE", "routes"]

log = structlog.get_logger("regauth.device")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_DESCRIPTIONS = {
    "authorization_pending": "the sign-in is not approved yet; keep polling",
    "slow_down": "polling too fast; wait longer between polls",
    "access_denied": "the sign-in was denied",
    "expired_token": "the sign-in expired before it was approved; start again",
    "invalid_grant": "unknown or already used device code",
}
RELOGIN = "run `docker-credential-regauth login REGISTRY` again"


def _error(status: int, error: str, description: str, **extra: Any) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["www-authenticate"] = f'Bearer error="{error}"'
    return JSONResponse(
        {"error": error, "error_description": description, **extra},
        status_code=status,
        headers=headers,
    )


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def routes(console: Console) -> list[BaseRoute]:
    settings = console.config.devices

    async def code(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormTooLarge:
            return _error(413, "invalid_request", "the request is too large")
        client_id = form.text("client_id")
        if not client_id or len(client_id) > 128:
            return _error(400, "invalid_request", "client_id: required, at most 128 characters")
        client_name = form.text("client_name")[:128] or None
        try:
            device_code, user_code, view = await console.run(
                console.accounts.begin_device_authorization,
                client_id=client_id,
                client_name=client_name,
                address=console.client_address(request),
                user_agent=request.headers.get("user-agent"),
                lifetime=settings.code_lifetime,
                interval=settings.interval,
                max_pending_per_address=settings.max_pending_per_address,
            )
        except Conflict as exc:
            return _error(429, "slow_down", exc.message)
        log.info(
            "device sign-in requested",
            client_id=client_id,
            client_name=client_name,
            client=view.address,
        )
        page = console.base_url.rstrip("/") + "/device"
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": page,
                "verification_uri_complete": f"{page}?user_code={user_code}",
                "expires_in": int(settings.code_lifetime.total_seconds()),
                "interval": settings.interval,
            },
            headers=_NO_STORE,
        )

    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormTooLarge:
            return _error(413, "invalid_request", "the request is too large")
        if form.get("grant_type") != GRANT_TYPE:
            return _error(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        device_code = form.get("device_code")
        if not device_code:
            return _error(400, "invalid_request", "device_code: required")
        outcome = await console.run(
            console.accounts.poll_device_authorization,
            device_code,
            absolute_lifetime=settings.absolute_lifetime,
            max_per_user=console.config.console.max_sessions_per_user,
        )
        if outcome.error is not None:
            extra = {"interval": outcome.interval} if outcome.interval else {}
            return _error(400, outcome.error, _DESCRIPTIONS.get(outcome.error, ""), **extra)
        assert outcome.secret is not None
        assert outcome.expires_at is not None
        log.info("device sign-in completed", user=outcome.username)
        now = console.clock()
        return JSONResponse(
            {
                "access_token": outcome.secret,
                "token_type": "Bearer",
                "expires_in": max(0, int((outcome.expires_at - now).total_seconds())),
                "username": outcome.username,
            },
            headers=_NO_STORE,
        )

    async def _session(request: Request) -> LiveSession | Response:
        secret = _bearer(request)
        if secret is None:
            return _error(401, "invalid_token", f"no device session given; {RELOGIN}")
        session = await console.run(
            console.accounts.find_console_session,
            secret,
            idle_lifetime=settings.idle_lifetime,
            kind="device",
        )
        if session is None:
            return _error(401, "invalid_token", f"the device session has ended; {RELOGIN}")
        return session

    async def credential(request: Request) -> Response:
        found = await _session(request)
        if not isinstance(found, LiveSession):
            return found
        now = console.clock()
        expires = now + settings.credential_lifetime
        name = f"device {found.client_name or 'machine'} {now:%Y-%m-%d %H:%M:%S}"[:128]
        try:
            created = await console.run(
                console.accounts.create_token, found.username, name, expires_at=expires
            )
        except AccountError as exc:
            return _error(403, "access_denied", exc.message)
        log.info("device credential issued", user=found.username, token_id=created.view.id)
        return JSONResponse(
            {
                "username": found.username,
                "secret": created.secret,
                "expires_at": expires.astimezone(datetime.UTC).isoformat(timespec="seconds"),
            },
            headers=_NO_STORE,
        )

    async def session_state(request: Request) -> Response:
        found = await _session(request)
        if not isinstance(found, LiveSession):
            return found
        if request.method == "DELETE":  # the machine signs itself out
            await console.run(console.accounts.end_console_session, found.id)
            log.info("device signed out", user=found.username, client_name=found.client_name)
            return JSONResponse({"username": found.username, "live": False}, headers=_NO_STORE)
        return JSONResponse({"username": found.username, "live": True}, headers=_NO_STORE)

    if not settings.enabled:
        return []
    return [
        Route(console.route("/device/code"), code, methods=["POST"]),
        Route(console.route("/device/token"), token, methods=["POST"]),
        Route(console.route("/device/credential"), credential, methods=["POST"]),
        Route(console.route("/device/session"), session_state, methods=["GET", "DELETE"]),
    ]
