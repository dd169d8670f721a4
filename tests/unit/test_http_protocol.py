"""regauth's HTTP protocol: uvicorn's, with each response handed to the socket in one write."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from regauth.web.http_protocol import HttpProtocol
from regauth.web.paired_writes import PairedWrites
from regauth.web.request_limits import RequestLimits


class RecordingTransport(asyncio.Transport):
    """A socket transport stand-in that records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        assert not self.eof, "written after write_eof"
        self.writes.append(bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 5001)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def turn() -> None:
    """Let the event loop finish its current turn (and run what it scheduled)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_two_writes_become_one_and_a_lone_write_waits_only_for_the_turn() -> None:
    inner = RecordingTransport()
    paired = PairedWrites(inner, asyncio.get_running_loop())
    paired.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert inner.writes == []
    paired.write(memoryview(b"body"))
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    paired.write(b"alone")
    assert paired.get_write_buffer_size() == 5
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"alone"]
    for chunk in (b"1", b"2", b"3"):
        paired.write(chunk)
    await turn()
    assert b"".join(inner.writes[2:]) == b"123"  # never reordered


async def test_close_hands_on_what_is_held_and_abort_drops_it() -> None:
    inner = RecordingTransport()
    paired = PairedWrites(inner, asyncio.get_running_loop())
    paired.write(b"last words")
    paired.close()
    assert inner.writes == [b"last words"] and inner.closed
    await turn()  # the scheduled release finds nothing left
    assert inner.writes == [b"last words"]

    inner = RecordingTransport()
    paired = PairedWrites(inner, asyncio.get_running_loop())
    paired.write(b"never sent")
    paired.abort()
    await turn()
    assert inner.writes == [] and inner.aborted


async def test_a_write_held_past_a_lost_connection_is_dropped() -> None:
    inner = RecordingTransport()
    paired = PairedWrites(inner, asyncio.get_running_loop())
    paired.write(b"held")
    inner.closed = True  # the peer went away meanwhile
    await turn()
    assert inner.writes == []


async def _token_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b'{"token":"t"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _protocol(app: Any) -> tuple[HttpProtocol, RecordingTransport]:
    config = uvicorn.Config(app, http=HttpProtocol, ws="none", log_level="warning")
    config.load()
    protocol = HttpProtocol(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_uvicorn_sends_a_whole_response_in_one_write() -> None:
    protocol, transport = _protocol(_token_app)
    protocol.data_received(b"GET /auth HTTP/1.1\r\nHost: x\r\n\r\n")
    await turn()
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 13" in head
    assert body == b'{"token":"t"}'
    # pipelined: two requests in one segment, two responses in order, one write each
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    await turn()
    assert len(transport.writes) == 3
    assert all(w.endswith(b'{"token":"t"}') for w in transport.writes)


async def test_uvicorns_own_errors_still_reach_the_client() -> None:
    protocol, transport = _protocol(_token_app)
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    await turn()
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 400 Bad Request")
    assert transport.eof


async def test_over_a_real_socket() -> None:
    """Keep-alive, a streamed body and the connection closing, end to end on loopback."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one,", b"two,", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _token_app(scope, receive, send)

    config = uvicorn.Config(app, http=HttpProtocol, ws="none", log_level="warning")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(config, state, {}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /auth HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.readexactly(13) == b'{"token":"t"}'
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        head, _, chunked = rest.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head and b"connection: close" in head
        assert chunked == b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_serve_uses_it_with_the_limits_it_is_given() -> None:
    """A partial that uvicorn can pickle into each worker process (``--workers N``)."""
    import pickle

    from regauth.serve import http_protocol

    limits = RequestLimits(max_headers=42, header_timeout=1.5)
    factory = pickle.loads(pickle.dumps(http_protocol(limits)))
    assert isinstance(factory, functools.partial)
    assert factory.func is HttpProtocol
    assert factory.keywords["limits"] == limits
    pending = factory.keywords["pending"]  # one per worker process, shared by its connections
    assert pending.limit == limits.max_pending_headers_size and pending.total == 0


def test_paired_writes_pass_everything_else_through() -> None:
    inner = RecordingTransport()
    loop = asyncio.new_event_loop()
    try:
        paired = PairedWrites(inner, loop)
        assert paired.get_extra_info("peername") == ("127.0.0.1", 50000)
        assert paired.get_extra_info("nothing", "default") == "default"
        assert not paired.is_closing()
        inner.closed = True
        assert paired.is_closing()
    finally:
        loop.close()
