"""Structured logging: one JSON line per token request, and nothing secret in any of them.

The token event names who asked, how they authenticated, what they asked for, what they got
and which rule decided, with the client address, user agent and latency. Passwords, tokens and
Authorization headers are never passed to the logger in the first place; the values that reach
it are names, scopes and decisions.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson
import structlog

from regauth.audit import AuditRow
from regauth.authz.base import Decision
from regauth.protocol.errors import ProtocolError
from regauth.protocol.request import TokenRequest
from regauth.service import ClientInfo, IssuedToken
from regauth.timestamps import PerSecondFormat

__all__ = ["TokenEventLog", "configure_logging"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_configured_streams: list[IO[str]] = []
#: writes one JSON event at level info, or None when info lines are off or not JSON
_info_json_writer: list[Callable[[dict[str, Any]], None] | None] = [None]


def info_json_writer() -> Callable[[dict[str, Any]], None] | None:
    """The fast path for the token event, written at the request rate: the same JSON line
    structlog renders (fields, then event, level, timestamp), without its processor chain."""
    return _info_json_writer[0]


def _make_json_writer(target: IO[str]) -> Callable[[dict[str, Any]], None]:
    """Lines written in one turn of the event loop reach the stream with one flush, at the end
    of that turn (as nginx buffers its access log, but never for longer than the turn); outside
    an event loop every line is flushed at once."""
    buffer = getattr(target, "buffer", None)
    if buffer is not None:
        write_bytes, flush = buffer.write, buffer.flush
    else:

        def write_bytes(data: bytes) -> int:
            return target.write(data.decode("utf-8"))

        flush = target.flush

    timestamp = PerSecondFormat("%Y-%m-%dT%H:%M:%S.", "Z")
    # the loop with a flush pending: a loop that stopped before running it no longer counts
    flush_pending_on: asyncio.AbstractEventLoop | None = None

    def flush_turn() -> None:
        nonlocal flush_pending_on
        flush_pending_on = None
        flush()

    def emit(fields: dict[str, Any]) -> None:
        nonlocal flush_pending_on
        fields["level"] = "info"
        fields["timestamp"] = timestamp(time.time())
        write_bytes(orjson.dumps(fields, default=str) + b"\n")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            flush()
            return
        if flush_pending_on is not loop:
            flush_pending_on = loop
            loop.call_soon(flush_turn)

    return emit


def _orjson_dumps(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, default=str)


def configure_logging(
    level: str = "info", fmt: str = "json", stream: IO[str] | None = None
) -> None:
    """Configure structlog once per process; JSON lines on stdout by default."""
    target = stream if stream is not None else sys.stdout
    # the loggers below keep only the binary buffer: hold the text stream so it stays open
    _configured_streams[:] = [target]
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if fmt == "console":
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
        factory: Any = structlog.PrintLoggerFactory(target)  # type: ignore[arg-type]
    else:
        processors.append(structlog.processors.JSONRenderer(serializer=_orjson_dumps))
        buffer = getattr(target, "buffer", None)
        factory = (
            structlog.BytesLoggerFactory(buffer)
            if buffer is not None
            else _TextFromBytesFactory(target)
        )
    _info_json_writer[0] = (
        _make_json_writer(target) if fmt == "json" and _LEVELS[level] <= logging.INFO else None
    )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


class _TextFromBytesFactory:
    """For text streams without a buffer (pytest's capture): decode the JSON bytes."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, *_args: Any) -> _TextFromBytesLogger:
        return _TextFromBytesLogger(self._stream)


class _TextFromBytesLogger:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def msg(self, message: bytes | str) -> None:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
        self._stream.write(text + "\n")
        self._stream.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _decisions(decisions: Sequence[Decision], scopes: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"scope": scope, "granted": d.granted, "rule": d.decided_by}
        for d, scope in zip(decisions, scopes, strict=True)
    ]


AuditSink = Callable[[AuditRow], None]


class TokenEventLog:
    """Writes the token event to the log and the audit trail; the only place that decides what
    a token event holds."""

    def __init__(self, audit: AuditSink | None = None) -> None:
        self._log = structlog.get_logger("regauth.token")
        self._json = info_json_writer()
        self._audit = audit

    def _emit(self, fields: dict[str, Any]) -> None:
        if self._json is not None:
            fields["event"] = "token"
            self._json(fields)
        else:
            self._log.info("token", **fields)

    def issued(
        self, request: TokenRequest, issued: IssuedToken, client: ClientInfo, latency: float
    ) -> None:
        decisions = issued.decisions
        asked = sum(len(d.scope.actions) for d in decisions)
        got = sum(len(d.granted) for d in decisions)
        outcome = "granted" if got == asked else ("partial" if got else "denied")
        latency_ms = round(latency * 1000, 3)
        client_ip = str(client.address) if client.address else None
        identity = issued.identity
        scopes = [str(d.scope) for d in decisions]
        self._emit(
            {
                "status": 200,
                "outcome": outcome,
                "account": identity.subject,
                "method": identity.method,
                "credential": identity.credential,
                "grant_type": request.grant_type.value,
                "service": issued.service,
                "client_id": request.client_id,
                "scopes": scopes,
                "decisions": _decisions(decisions, scopes),
                "refresh_token_issued": "refresh_token" in issued.body,
                "client_ip": client_ip,
                "user_agent": client.user_agent,
                "latency_ms": latency_ms,
            }
        )
        if self._audit is not None:
            self._audit(
                (
                    time.time(),
                    200,
                    outcome,
                    identity.subject,
                    f"{identity.method}/{identity.credential}",
                    request.grant_type.value,
                    issued.service,
                    client_ip,
                    client.user_agent,
                    None,
                    latency_ms,
                    [
                        (
                            d.scope.type,
                            d.scope.name,
                            ",".join(d.scope.actions),
                            ",".join(d.granted),
                            d.decided_by,
                        )
                        for d in decisions
                    ],
                )
            )

    def failed(
        self,
        request: TokenRequest | None,
        error: ProtocolError,
        client: ClientInfo,
        latency: float,
    ) -> None:
        account = None
        if request is not None and request.credentials is not None:
            account = request.credentials.username
        elif request is not None and request.grant_type.value == "basic":
            account = ""
        latency_ms = round(latency * 1000, 3)
        client_ip = str(client.address) if client.address else None
        self._emit(
            {
                "status": error.status,
                "outcome": "rejected",
                "error": error.docker_code,
                "message": error.message,
                "reason": error.log_reason,
                "account": account,
                "grant_type": request.grant_type.value if request is not None else None,
                "service": request.service if request is not None else None,
                "scopes": [str(s) for s in request.scopes] if request is not None else None,
                "client_ip": client_ip,
                "user_agent": client.user_agent,
                "latency_ms": latency_ms,
            }
        )
        if self._audit is not None:
            self._audit(
                (
                    time.time(),
                    error.status,
                    "rejected",
                    account,
                    None,
                    request.grant_type.value if request is not None else None,
                    request.service if request is not None else None,
                    client_ip,
                    client.user_agent,
                    (error.log_reason or error.message)[:500],
                    latency_ms,
                    [
                        (s.type, s.name, ",".join(s.actions), "", None)
                        for s in (request.scopes if request is not None else ())
                    ],
                )
            )
