"""Structured logging: one JSON line per token request, and nothing secret in any of them.

The token event names who asked, how they authenticated, what they asked for, what they got
and which rule decided, with the client address, user agent and latency. Passwords, tokens and
Authorization headers are never passed to the logger in the first place; the values that reach
it are names, scopes and decisions.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson
import structlog

from regauth.audit import (
    ACCOUNT_LENGTH,
    REASON_LENGTH,
    SERVICE_LENGTH,
    USER_AGENT_LENGTH,
    AuditRow,
    clip,
    encode_scopes,
)
from regauth.authz.base import Decision
from regauth.metrics import Metrics, TokenCounter
from regauth.protocol.errors import ProtocolError
from regauth.protocol.request import TokenRequest
from regauth.service import ClientInfo, Grant, IssuedToken
from regauth.timestamps import PerSecondFormat

__all__ = ["GrantEvent", "JsonLineWriter", "TokenEventLog", "configure_logging"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_configured_streams: list[IO[str]] = []


class JsonLineWriter:
    """The fast path for the token event, written at the request rate: the same JSON line
    structlog renders (fields, then event, level, timestamp), without its processor chain.

    Lines written in one turn of the event loop are collected here and reach the stream with
    one write, at the end of that turn (as nginx buffers its access log, but never for longer
    than the turn); outside an event loop every line is written at once. The collecting is
    done here rather than left to the stream's buffer, which ``PYTHONUNBUFFERED=1`` (set in
    many container images) takes away: there, every line would be a system call."""

    def __init__(self, target: IO[str]) -> None:
        buffer = getattr(target, "buffer", None)
        #: a text stream without a binary layer (an in-memory one) is written line by line
        self._collect = buffer is not None
        if buffer is not None:
            self._write_bytes: Callable[[bytes], int | None] = buffer.write
            self._flush: Callable[[], object] = buffer.flush
        else:

            def write_text(data: bytes) -> int:
                target.write(bytes(data).decode("utf-8"))
                return len(data)

            self._write_bytes, self._flush = write_text, target.flush
        self._timestamp = PerSecondFormat('"level":"info","timestamp":"%Y-%m-%dT%H:%M:%S.', 'Z"}\n')
        self._lines: list[bytes] = []
        #: the loop with a flush pending: a loop that stopped before running it no longer counts
        self._flush_pending_on: asyncio.AbstractEventLoop | None = None

    def _flush_turn(self) -> None:
        self._flush_pending_on = None
        self.flush()

    def flush(self) -> None:
        """Write the lines collected so far."""
        lines = self._lines
        if not lines:
            return
        data = memoryview(b"".join(lines))
        lines.clear()
        while data:  # an unbuffered stream may take part of it
            written = self._write_bytes(data)  # type: ignore[arg-type]
            if not written:
                break
            data = data[written:]
        self._flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._flush_pending_on is not loop:
            self._flush_pending_on = loop
            loop.call_soon(self._flush_turn)

    def __call__(self, fields: dict[str, Any]) -> None:
        """One line of ``fields`` (at level info, with a timestamp)."""
        encoded = orjson.dumps(fields, default=str)
        self.write_prefix(encoded[:-1] + b"," if len(encoded) > 2 else b"{")

    def write_prefix(self, prefix: bytes) -> None:
        """One line whose fields are already JSON: ``prefix`` is an object's opening brace and
        members, each followed by a comma; the level, the timestamp and the closing brace are
        added here."""
        self._lines.append(prefix + self._timestamp(time.time()).encode())
        if self._collect:
            self._schedule_flush()
        else:
            self.flush()


#: writes one JSON event at level info, or None when info lines are off or not JSON
_info_json_writer: list[JsonLineWriter | None] = [None]


_flush_at_exit: list[bool] = []


def _flush_token_lines() -> None:
    """At exit: the lines of a last loop turn whose end never came."""
    writer = _info_json_writer[0]
    if writer is not None:
        with contextlib.suppress(OSError, ValueError):
            writer.flush()


def info_json_writer() -> JsonLineWriter | None:
    """The fast path for the token event, when the log is JSON at level info or below."""
    return _info_json_writer[0]


def _make_json_writer(target: IO[str]) -> JsonLineWriter:
    return JsonLineWriter(target)


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
    previous = _info_json_writer[0]
    if previous is not None:
        previous.flush()
    _info_json_writer[0] = (
        _make_json_writer(target) if fmt == "json" and _LEVELS[level] <= logging.INFO else None
    )
    if not _flush_at_exit:
        atexit.register(_flush_token_lines)
        _flush_at_exit.append(True)
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


class GrantEvent:
    """What the token event of a grant says that does not change from one token to the next:
    its log fields (also as JSON) and its audit values. Made once for a grant the endpoint
    remembers, so a repeated request only adds its user agent, latency and time."""

    __slots__ = ("audit_scopes", "audit_values", "counters", "fields", "json_prefix")

    def __init__(
        self,
        fields: dict[str, Any],
        audit_values: tuple[Any, ...],
        audit_scopes: tuple[str, str | None],
        counters: tuple[TokenCounter, TokenCounter] | None = None,
    ) -> None:
        #: every field but user_agent and latency_ms
        self.fields = fields
        self.json_prefix = orjson.dumps(fields, default=str)[:-1] + b","
        #: the audit row's client address, account, method, grant type, service, status,
        #: outcome and reason (for a grant: the credential's details, if any; see AuditRow)
        self.audit_values = audit_values
        #: the audit row's scopes and repository names, as stored
        self.audit_scopes = audit_scopes
        #: its metrics series: answered after a decision, answered from a remembered grant
        self.counters = counters


class TokenEventLog:
    """Writes the token event to the log and the audit trail; the only place that decides what
    a token event holds."""

    def __init__(self, audit: AuditSink | None = None, metrics: Metrics | None = None) -> None:
        self._log = structlog.get_logger("regauth.token")
        self._json = info_json_writer()
        self._audit = audit
        self._metrics = metrics

    def _emit(self, fields: dict[str, Any]) -> None:
        if self._json is not None:
            fields["event"] = "token"
            self._json(fields)
        else:
            self._log.info("token", **fields)

    def grant_event(
        self,
        request: TokenRequest,
        grant: Grant,
        client: ClientInfo,
        *,
        refresh_token_issued: bool = False,
    ) -> GrantEvent:
        decisions = grant.decisions
        asked = sum(len(d.scope.actions) for d in decisions)
        got = sum(len(d.granted) for d in decisions)
        outcome = "granted" if got == asked else ("partial" if got else "denied")
        client_ip = str(client.address) if client.address else None
        identity = grant.identity
        scopes = [str(d.scope) for d in decisions]
        fields = {
            "status": 200,
            "outcome": outcome,
            "account": identity.subject,
            "method": identity.method,
            "credential": identity.credential,
            "grant_type": request.grant_type.value,
            "service": grant.service,
            "client_id": request.client_id,
            "scopes": scopes,
            "decisions": _decisions(decisions, scopes),
            "refresh_token_issued": refresh_token_issued,
            "client_ip": client_ip,
        }
        details = None
        if identity.details:  # e.g. a federated robot's ID token: iss, sub, repository, run
            fields["credential_claims"] = dict(identity.details)
            details = clip(" ".join(f"{k}={v}" for k, v in identity.details.items()), REASON_LENGTH)
        audit_values = (
            client_ip,
            clip(identity.subject, ACCOUNT_LENGTH),
            f"{identity.method}/{identity.credential}",
            request.grant_type.value,
            clip(grant.service, SERVICE_LENGTH),
            200,
            outcome,
            details,
        )
        counters = None
        metrics = self._metrics
        if metrics is not None:
            counters = (
                metrics.token_counter(outcome, identity.method, reused=False),
                metrics.token_counter(outcome, identity.method, reused=True),
            )
        return GrantEvent(fields, audit_values, encode_scopes(_audit_scopes(decisions)), counters)

    def issued(
        self, request: TokenRequest, issued: IssuedToken, client: ClientInfo, latency: float
    ) -> None:
        event = self.grant_event(
            request, issued.grant, client, refresh_token_issued="refresh_token" in issued.body
        )
        self.issued_again(event, client.user_agent, latency, reused=False)

    def issued_again(
        self, event: GrantEvent, user_agent: str, latency: float, *, reused: bool
    ) -> None:
        """The token event of one more token for a grant (its user agent and latency);
        ``reused`` when the grant was remembered rather than decided for this request."""
        if event.counters is not None:
            event.counters[reused].record(latency)
        latency_ms = round(latency * 1000, 3)
        if self._json is not None:
            self._json.write_prefix(
                b'%s"user_agent":%s,"latency_ms":%s,"event":"token",'
                % (event.json_prefix, orjson.dumps(user_agent), orjson.dumps(latency_ms))
            )
        else:
            self._log.info("token", **event.fields, user_agent=user_agent, latency_ms=latency_ms)
        if self._audit is not None:
            ip, account, method, grant_type, service, status, outcome, details = event.audit_values
            scopes, names = event.audit_scopes
            self._audit(
                (
                    time.time(),
                    ip,
                    user_agent[:USER_AGENT_LENGTH],
                    account,
                    method,
                    grant_type,
                    service,
                    status,
                    outcome,
                    details,
                    latency_ms,
                    scopes,
                    names,
                )
            )

    def failed(
        self,
        request: TokenRequest | None,
        error: ProtocolError,
        client: ClientInfo,
        latency: float,
    ) -> None:
        # a refusal by the guessing limits or a full password-check queue has its own outcome
        outcome = "throttled" if error.retry_after is not None else "rejected"
        account = None
        if request is not None and request.credentials is not None:
            account = request.credentials.username
        elif request is not None and request.grant_type.value == "basic":
            account = ""
        if self._metrics is not None:
            self._metrics.token_counter(outcome, None, reused=False).record(latency)
        latency_ms = round(latency * 1000, 3)
        client_ip = str(client.address) if client.address else None
        self._emit(
            {
                "status": error.status,
                "outcome": outcome,
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
            scopes, names = encode_scopes(
                [
                    (s.type, s.name, ",".join(s.actions), "", None)
                    for s in (request.scopes if request is not None else ())
                ]
            )
            self._audit(
                (
                    time.time(),
                    client_ip,
                    client.user_agent[:USER_AGENT_LENGTH],
                    clip(account, ACCOUNT_LENGTH),
                    None,
                    request.grant_type.value if request is not None else None,
                    clip(request.service, SERVICE_LENGTH) if request is not None else None,
                    error.status,
                    outcome,
                    (error.log_reason or error.message)[:REASON_LENGTH],
                    latency_ms,
                    scopes,
                    names,
                )
            )


def _audit_scopes(decisions: Sequence[Decision]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            d.scope.type,
            d.scope.name,
            ",".join(d.scope.actions),
            ",".join(d.granted),
            d.decided_by,
        )
        for d in decisions
    ]
