"""Limits on what a client may send, and the meter that holds a request head to them.

A request head (RFC 9112 section 2.1: the request line, the header lines, an empty line) is
measured here byte by byte *before* the HTTP parser sees it, so an oversized head is refused
after at most one limit's worth of bytes and never accumulates inside the parser (httptools
joins a header's pieces in memory until its line ends, however long that takes).

:class:`HeadMeter` only finds line ends (LF, with an optional CR before it): it does not
parse, so it stays linear and simple; the parser still decides what is valid HTTP. Empty
lines before the request line (which parsers skip) count towards the request line.

:class:`RequestLimits` are the figures, ``server:`` in the configuration; :class:`RequestRefused`
is the answer when one is passed, and :meth:`RequestRefused.response` its bytes on the wire.
:class:`PendingHeads` adds up what all connections of a worker hold of unfinished heads, so
that many connections each just under the limits cannot fill its memory either.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["HeadMeter", "PendingHeads", "RequestLimits", "RequestRefused"]

_CR = 0x0D
_LINE_END = (0x0A, 0x0D)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request may be; sizes in bytes (line ends excluded unless said), times in
    seconds."""

    #: the request line: method, target and version
    max_request_line: int = 8192
    #: one header line: name, colon and value
    max_header_size: int = 16384
    #: all header lines together, line ends included (not the request line)
    max_total_header_size: int = 65536
    #: header lines in one request
    max_headers: int = 100
    #: all unfinished heads of one worker's connections together
    max_pending_headers_size: int = 32 * 1024 * 1024
    #: from a new connection, or from a request's first byte, to the end of its headers
    header_timeout: float = 10.0
    #: from the end of a request's headers to the end of its body
    body_timeout: float = 30.0
    #: an idle connection between requests
    keepalive_timeout: float = 5.0


class RequestRefused(Exception):
    """A request the server answers with ``status`` and closes the connection after;
    ``limit`` names the configuration key (``server.<limit>``) that refused it."""

    def __init__(self, status: int, limit: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.limit = limit
        self.message = message

    def response(self, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
        """The whole answer: status line, headers (``Connection: close``) and a plain-text
        body naming the limit."""
        body = f"{self.message}\n".encode()
        phrase = http.HTTPStatus(self.status).phrase.encode("ascii")
        parts = [b"HTTP/1.1 %d %s\r\n" % (self.status, phrase)]
        parts += [name + b": " + value + b"\r\n" for name, value in extra_headers]
        parts.append(
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        parts.append(body)
        return b"".join(parts)


class PendingHeads:
    """Bytes of unfinished request heads held by all connections of one worker process, and
    the most they may hold together (``server.max_pending_headers_size``)."""

    __slots__ = ("holders", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0  # bytes held
        self.holders = 0  # connections holding some

    def refusal(self) -> RequestRefused:
        return RequestRefused(
            503,
            "max_pending_headers_size",
            f"too many unfinished requests: their headers hold more than {self.limit} bytes "
            "(server.max_pending_headers_size); try again",
        )


def request_line_too_long(limits: RequestLimits) -> RequestRefused:
    return RequestRefused(
        414,
        "max_request_line",
        f"request line (URL) longer than {limits.max_request_line} bytes (server.max_request_line)",
    )


def header_too_large(limits: RequestLimits) -> RequestRefused:
    return RequestRefused(
        431,
        "max_header_size",
        f"a request header is longer than {limits.max_header_size} bytes (server.max_header_size)",
    )


def headers_too_large(limits: RequestLimits) -> RequestRefused:
    return RequestRefused(
        431,
        "max_total_header_size",
        f"request headers larger than {limits.max_total_header_size} bytes in all "
        "(server.max_total_header_size)",
    )


def too_many_headers(limits: RequestLimits) -> RequestRefused:
    return RequestRefused(
        431,
        "max_headers",
        f"more than {limits.max_headers} request headers (server.max_headers)",
    )


class HeadMeter:
    """Measures one request head after another as its bytes arrive (see the module)."""

    __slots__ = (
        "_cr",
        "_header_bytes",
        "_headers",
        "_held",
        "_in_request_line",
        "_leading",
        "_limits",
        "_line",
        "_short",
    )

    def __init__(self, limits: RequestLimits) -> None:
        self._limits = limits
        #: a head no longer than this passes every size limit whatever its lines
        self._short = min(
            limits.max_request_line, limits.max_header_size, limits.max_total_header_size
        )
        self.reset()

    def reset(self) -> None:
        """Forget the head measured so far: the next byte starts a new request."""
        self._in_request_line = True
        self._leading = 0  # bytes of empty lines before the request line
        self._line = 0  # bytes of the current line so far, its LF excluded
        self._cr = False  # the current line so far ends with CR
        self._headers = 0  # header lines ended
        self._header_bytes = 0  # their bytes, line ends included
        self._held = 0  # bytes of the unfinished head measured so far

    @property
    def started(self) -> bool:
        """Whether any byte of the current head has been measured."""
        return self._held > 0

    @property
    def held(self) -> int:
        """Bytes of the unfinished head measured so far: what the parser holds of it."""
        return self._held

    def measure(self, data: bytes, start: int = 0) -> int:
        """Measure ``data[start:]``; return the offset just past the head's empty line (the
        meter is then reset for the next request), or -1 when the head goes on past ``data``.

        Raises :class:`RequestRefused` as soon as a limit is passed, before the rest of the
        offending line is needed.
        """
        limits = self._limits
        if not self.started and start < len(data) and data[start] not in _LINE_END:
            # the usual case, a whole small head in one piece: measured in C in one go
            head_end = data.find(b"\r\n\r\n", start) + 4
            if 4 <= head_end - start <= self._short:
                lines = data.count(b"\n", start, head_end)
                if lines <= limits.max_headers + 2 and lines == data.count(
                    b"\r\n", start, head_end
                ):
                    return head_end
        end = len(data)
        position = start
        while position < end:
            newline = data.find(b"\n", position)
            stop = end if newline < 0 else newline
            if stop > position:
                self._line += stop - position
                self._cr = data[stop - 1] == _CR
            content = self._line - self._cr  # a CR just before the LF is part of the line end
            if self._in_request_line:
                if self._leading + content > limits.max_request_line:
                    raise request_line_too_long(limits)
            else:
                if content > limits.max_header_size:
                    raise header_too_large(limits)
                if self._header_bytes + self._line > limits.max_total_header_size:
                    raise headers_too_large(limits)
            if newline < 0:
                break
            position = newline + 1
            length = self._line + 1
            self._line = 0
            self._cr = False
            if self._in_request_line:
                if content:
                    self._in_request_line = False
                else:
                    self._leading += length
            elif not content:
                self.reset()
                return position
            else:
                self._headers += 1
                self._header_bytes += length
                if self._headers > limits.max_headers:
                    raise too_many_headers(limits)
                if self._header_bytes > limits.max_total_header_size:
                    raise headers_too_large(limits)
        self._held += end - start
        return -1
