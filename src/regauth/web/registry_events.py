"""``POST {path_prefix}/registry/events``: the registry's notifications, received.

The registry sends ``Authorization: Bearer <registry.notification_secret>`` (the header
``regauth registry-config`` puts in its ``notifications:`` section); anything else is 401
before the body is read. The body is bounded (:data:`MAX_BODY_BYTES`, 413 beyond), must be the
notification media type (415 otherwise) and parse as a whole (400 naming the event and field);
its events are then stored in one transaction and the answer is 200. A database that is away
is 503, so the registry keeps the events and retries. The route exists only while a secret is
configured: without one it is 404, never an open door.
"""

from __future__ import annotations

import hmac
from collections import Counter
from typing import TYPE_CHECKING

import structlog

from regauth.activity import EventIngest, IngestResult
from regauth.protocol.notifications import (
    MEDIA_TYPES,
    ParseError,
    RegistryEvent,
    parse_envelope,
)
from regauth.web.responses import Receive, Scope, Send, send_json

if TYPE_CHECKING:
    from regauth.metrics import Metrics

__all__ = ["MAX_BODY_BYTES", "RegistryEventsEndpoint"]

log = structlog.get_logger("regauth.registry_events")

#: the largest notification accepted: 2.8 and 3.x send one event (about 1 KiB) per request
MAX_BODY_BYTES = 4 * 1024 * 1024


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class RegistryEventsEndpoint:
    def __init__(
        self,
        ingest: EventIngest,
        secret: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._ingest = ingest
        self._expected = b"Bearer " + secret.encode()
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        address = client[0] if client else None
        try:
            if scope["method"] != "POST":
                await send_json(
                    send,
                    405,
                    {"errors": [{"code": "UNSUPPORTED", "message": "use POST"}]},
                    [(b"allow", b"POST")],
                )
                return
            self._authenticate(scope)
            self._check_media_type(scope)
            body = await self._read_body(scope, receive)
            try:
                events = parse_envelope(body)
            except ParseError as exc:
                raise _Refused(400, "malformed", str(exc)) from None
            try:
                result: IngestResult = await self._ingest.submit(events)
            except Exception as exc:
                log.error("storing registry events failed", error=str(exc)[:300], client_ip=address)
                raise _Refused(
                    503, "unavailable", "the events could not be stored; retry later"
                ) from None
        except _Refused as refused:
            if self._metrics is not None:
                self._metrics.registry_notification_rejected(refused.reason)
            log.warning(
                "registry notification refused",
                status=refused.status,
                reason=refused.reason,
                message=refused.message,
                client_ip=address,
            )
            error = {"code": refused.reason.upper(), "message": refused.message}
            await send_json(send, refused.status, {"errors": [error]})
            return
        self._count(events, result)
        await send_json(
            send,
            200,
            {
                "received": len(events),
                "stored": len(result.stored),
                "duplicates": result.duplicates,
                "skipped": result.skipped,
            },
        )

    def _authenticate(self, scope: Scope) -> None:
        given = _header(scope, b"authorization")
        # constant time in the secret; its length is no secret worth hiding
        if given is None or not hmac.compare_digest(given, self._expected):
            raise _Refused(401, "unauthorized", "missing or wrong notification secret")

    @staticmethod
    def _check_media_type(scope: Scope) -> None:
        raw = _header(scope, b"content-type") or b""
        media_type = raw.split(b";", 1)[0].strip().lower().decode("latin-1")
        if media_type not in MEDIA_TYPES:
            raise _Refused(
                415,
                "unsupported_media_type",
                f"expected Content-Type {MEDIA_TYPES[0]}, got {media_type[:80]!r}",
            )

    @staticmethod
    async def _read_body(scope: Scope, receive: Receive) -> bytes:
        too_large = _Refused(
            413, "too_large", f"the notification is larger than {MAX_BODY_BYTES} bytes"
        )
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_BODY_BYTES:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Refused(400, "malformed", "the client went away before the body ended")
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _count(self, events: list[RegistryEvent], result: IngestResult) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        metrics.registry_events("received", Counter(e.action for e in events))
        metrics.registry_events("stored", Counter(e.action for e in result.stored))
        if result.duplicates or result.skipped:
            stored = {e.id for e in result.stored}
            kept = [e for e in events if self._ingest.keeps(e)]
            metrics.registry_events(
                "duplicate", Counter(e.action for e in kept if e.id not in stored)
            )
            metrics.registry_events(
                "skipped", Counter(e.action for e in events if not self._ingest.keeps(e))
            )
