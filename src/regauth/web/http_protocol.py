"""regauth's HTTP/1.1 protocol: uvicorn's httptools protocol, bounded, writing in one piece.

Two changes to uvicorn's own protocol:

* each response reaches the socket in one write (:class:`regauth.web.paired_writes.PairedWrites`);
* every request is held to :class:`regauth.web.request_limits.RequestLimits`.

**Sizes.** :meth:`HttpProtocol.data_received` measures each request head with a
:class:`HeadMeter` *before* handing its bytes to the parser, and hands over only what it
measured: the head, then exactly the body its ``Content-Length`` announces, then the next
head. An oversized request line (414), header, header block or header count (431) is refused
once the limit is passed, so no more than the limit ever waits in memory. A chunked body's
end is known only to the parser, so a connection takes no further request after one
(``Connection: close``); nothing after it is parsed unmeasured. Should the meter and the
parser ever disagree on where a head or body ends (no valid request makes them), the
request is answered 400. The unfinished heads of all a worker's connections together are held
to ``max_pending_headers_size`` (:class:`PendingHeads`): past it, the connections holding the
most are answered 503, so many connections each just under the limits cannot fill memory.

**Times.** ``header_timeout`` runs from a new connection, or from the first byte of a later
request, to the end of its headers; ``body_timeout`` from there to the end of its body;
``keepalive_timeout`` (uvicorn's own timer) between requests. A timeout closes the connection,
with 408 when nothing of an answer to that request was sent yet; a new connection that sent
nothing at all is closed without a word, like an idle one.

A refusal is written only when no earlier answer on the connection is still being written
(pipelining); otherwise that answer is finished and the connection closed after it. Either
way no more of the request is parsed. After a written refusal the connection is half-closed
(but over TLS) and what the client still sends is read and dropped, for at most
:data:`LINGER_SECONDS` and :data:`LINGER_BYTES` (a "lingering close", as nginx does): closing
a socket with unread bytes makes the kernel send a reset, and a client still sending its
oversized head would see "connection reset by peer" instead of the answer.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any

import httptools
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from regauth.web.paired_writes import PairedWrites
from regauth.web.request_limits import HeadMeter, PendingHeads, RequestLimits, RequestRefused

__all__ = [
    "LINGER_BYTES",
    "LINGER_SECONDS",
    "HttpProtocol",
    "PairedWrites",
    "PendingHeads",
    "RequestLimits",
]

log = structlog.get_logger("regauth.web")

#: after a refusal, how long and how much of what the client still sends is read and dropped
LINGER_SECONDS = 2.0
LINGER_BYTES = 256 * 1024


class _NoMoreRequests(Exception):
    """Raised in the parser's callback to stop it at a request the connection does not take."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request limits, writing through
    :class:`PairedWrites` (see the module). uvicorn builds one per connection; give it the
    limits, and the :class:`PendingHeads` all connections of the process share, with
    ``functools.partial(HttpProtocol, limits=..., pending=...)``."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: RequestLimits | None = None,
        pending: PendingHeads | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits = limits or RequestLimits()
        self._pending = pending or PendingHeads(limits.max_pending_headers_size)
        self._held = 0  # bytes of an unfinished head this connection counts in _pending
        self.timeout_keep_alive = limits.keepalive_timeout  # type: ignore[assignment]
        self._meter = HeadMeter(limits)
        #: False once nothing more is read (refused, closing, or past the last request)
        self._reading = True
        #: the connection takes no request after the current one
        self._last_request = False
        self._in_body = False
        #: body bytes the parser still expects; None: chunked, known only to the parser
        self._body_left: int | None = 0
        self._feeding_head = False
        self._heads = 0  # heads the parser completed
        self._out_of_step = False
        self._close_after_response = False
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None
        #: bytes still dropped before a lingering close gives up; None: not lingering
        self._linger_left: int | None = None
        self._linger_timer: TimerHandle | None = None

    # --------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(PairedWrites(transport, self.loop))
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._reading = False
        self._hold(0)
        self._linger_left = None
        self._cancel_timers()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._linger_left is not None:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        end = len(data)
        position = 0
        while position < end and self._reading:
            if self._in_body:
                left = self._body_left
                stop = end if left is None else min(end, position + left)
                if not self._feed(data, position, stop):
                    return
                if left is not None:
                    self._body_left = left = left - (stop - position)
                    if (left == 0) == self._in_body:  # the parser ended the body elsewhere
                        self._out_of_step = True
                position = stop
            else:
                if self._last_request:
                    self._stop_reading()
                    return
                try:
                    head_end = self._meter.measure(data, position)
                except RequestRefused as refusal:
                    self._refuse(refusal)
                    return
                if self._meter.held != self._held:
                    self._hold(self._meter.held)
                    if self._pending.total > self._pending.limit:
                        self._shed_pending()
                        if not self._reading:
                            return
                if head_end < 0 and self._head_timer is None:
                    # the head's first byte is in this piece; it ends in a later one
                    self._head_timer = self.loop.call_later(
                        self.limits.header_timeout, self._head_timed_out
                    )
                stop = end if head_end < 0 else head_end
                heads = self._heads
                self._feeding_head = True
                try:
                    fed = self._feed(data, position, stop)
                finally:
                    self._feeding_head = False
                if not fed:
                    return
                if self._heads - heads != (head_end >= 0):
                    self._out_of_step = True
                position = stop
            if self._out_of_step:
                self._refuse(RequestRefused(400, "framing", "malformed request"))
                return

    def _feed(self, data: bytes, start: int, stop: int) -> bool:
        """Hand ``data[start:stop]`` to the parser; False when the connection reads no more."""
        chunk = data if start == 0 and stop == len(data) else memoryview(data)[start:stop]
        try:
            self.parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._stop_reading()
                self.handle_websocket_upgrade()
                return False
            self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _NoMoreRequests):
                self._stop_reading()
            else:
                self._refuse(RequestRefused(400, "http", "Invalid HTTP request received."))
            return False
        return True

    # ---------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        if self._last_request:
            raise _NoMoreRequests
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._heads += 1
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        length = 0
        chunked = False
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._out_of_step = True
            elif name == b"transfer-encoding":
                chunked = True  # the parser refuses any other final coding in a request
        self._in_body = True
        if chunked:
            self._body_left = None
            self._last_request = True
            if self.cycle is not None:
                self.cycle.keep_alive = False
        else:
            self._body_left = length
        if chunked or length:
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        if self._feeding_head:  # body bytes where the meter saw only a head
            self._out_of_step = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if not self.parser.should_keep_alive():
            self._last_request = True

    def on_response_complete(self) -> None:
        if self._close_after_response:
            self.transport.close()
        super().on_response_complete()

    # ------------------------------------------------------------------ limits

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._meter.started:  # a new connection that never sent a byte
            self._stop_reading()
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()
            return
        seconds = self.limits.header_timeout
        self._refuse(
            RequestRefused(
                408,
                "header_timeout",
                f"request headers not received within {seconds:g} s (server.header_timeout)",
            )
        )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        seconds = self.limits.body_timeout
        self._refuse(
            RequestRefused(
                408,
                "body_timeout",
                f"request body not received within {seconds:g} s (server.body_timeout)",
            )
        )

    def _refuse(self, refusal: RequestRefused) -> None:
        """Answer ``refusal`` and close; see the module for when no answer is written."""
        self._stop_reading()
        log.info(
            "request refused",
            status=refusal.status,
            limit=refusal.limit,
            reason=refusal.message,
            client_ip=self.client[0] if self.client else None,
        )
        if not self._in_body:
            # let go of the refused head at once, not when the connection is gone: a fresh
            # parser drops what httptools held of it (a lingering or pipelined connection
            # parses nothing more); what uvicorn gathered goes with the request's own state
            self.parser = httptools.HttpRequestParser(self)
            self.headers = []
            self.url = b""
            self.scope = None  # type: ignore[assignment]
        cycle = self.cycle
        if self.pipeline or (
            not self._in_body and cycle is not None and not cycle.response_complete
        ):
            # an earlier request's answer is still on its way: finish it, then close
            self.pipeline.clear()
            self._close_after_response = True
            return
        answer = True
        if self._in_body and cycle is not None:
            answer = not cycle.response_started
            if not cycle.response_complete:
                cycle.disconnected = True  # whatever the application sends now goes nowhere
                cycle.message_event.set()
        if not answer:
            self.transport.close()
            return
        self.transport.write(refusal.response(self.server_state.default_headers))
        if self.transport.can_write_eof():  # not over TLS: the answer's length tells the end
            self.transport.write_eof()
        self._linger_left = LINGER_BYTES
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        self.flow.resume_reading()

    def _hold(self, held: int) -> None:
        pending = self._pending
        pending.total += held - self._held
        pending.holders += (held > 0) - (self._held > 0)
        self._held = held

    def _shed_pending(self) -> None:
        """Over the process's budget for unfinished heads: refuse the connections holding
        the most until under it (a client that sends whole heads holds nothing). The one
        that went over is refused without a search when it holds at least the average, as
        each of many alike attacking connections does."""
        pending = self._pending
        if self._held * pending.holders >= pending.total:
            self._refuse(pending.refusal())
        while pending.total > pending.limit:
            victim = max(
                (c for c in self.connections if isinstance(c, HttpProtocol)),
                key=lambda c: c._held,
                default=None,
            )
            if victim is None or not victim._held:
                return
            victim._refuse(pending.refusal())

    def _stop_reading(self) -> None:
        self._reading = False
        self._hold(0)
        self._cancel_timers()
        if self.flow is not None:
            self.flow.pause_reading()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
