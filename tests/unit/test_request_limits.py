"""Request limits: the head meter (pure) and the HTTP protocol that enforces them, in process."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from regauth.config import ConfigError, ServerConfig, parse_config
from regauth.serve import request_limits
from regauth.web.http_protocol import HttpProtocol
from regauth.web.request_limits import HeadMeter, PendingHeads, RequestLimits, RequestRefused
from tests.unit.test_http_protocol import RecordingTransport, turn

SMALL = RequestLimits(
    max_request_line=32, max_header_size=24, max_total_header_size=80, max_headers=4
)
HEAD = b"GET /auth?x=1 HTTP/1.1\r\nHost: registry\r\nAccept: */*\r\n\r\n"


def refusal(data: bytes, limits: RequestLimits = SMALL) -> str | None:
    """The limit that refuses ``data`` measured in one piece, or None."""
    try:
        HeadMeter(limits).measure(data)
    except RequestRefused as refused:
        return refused.limit
    return None


# ------------------------------------------------------------------------------ head meter


def test_a_head_in_one_piece_ends_after_its_empty_line() -> None:
    meter = HeadMeter(SMALL)
    assert meter.measure(HEAD + b"body") == len(HEAD)
    assert not meter.started  # ready for the next request
    two = HEAD + HEAD
    first = meter.measure(two)
    assert meter.measure(two, first) == len(two)


def test_a_head_byte_by_byte_ends_at_the_same_byte() -> None:
    meter = HeadMeter(SMALL)
    results = [meter.measure(HEAD[i : i + 1]) for i in range(len(HEAD))]
    assert results[:-1] == [-1] * (len(HEAD) - 1)
    assert results[-1] == 1
    assert not meter.started


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        (b"GET /" + b"a" * 18 + b" HTTP/1.1\r\n\r\n", None),  # 32 bytes: at the limit
        (b"GET /" + b"a" * 19 + b" HTTP/1.1\r\n\r\n", "max_request_line"),
        (b"GET /" + b"a" * 40, "max_request_line"),  # refused before its line ends
        (b"\r\n" + b"GET /" + b"a" * 18 + b" HTTP/1.1\r\n\r\n", "max_request_line"),
        (b"\r\n" * 40, "max_request_line"),  # empty lines before the request count
        (b"GET / HTTP/1.1\r\nX: " + b"v" * 21 + b"\r\n\r\n", None),  # 24 bytes
        (b"GET / HTTP/1.1\r\nX: " + b"v" * 22 + b"\r\n\r\n", "max_header_size"),
        (b"GET / HTTP/1.1\r\nX: " + b"v" * 100, "max_header_size"),
        (b"GET / HTTP/1.1\r\nX: " + b"\r" * 30, "max_header_size"),  # a lone CR is content
        (b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4 + b"\r\n", None),
        (b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 5, "max_headers"),
        (b"GET / HTTP/1.1\r\n" + b"AB: " + b"v" * 16 + b"\r\n" * 1, None),
        (b"GET / HTTP/1.1\r\n" + (b"AB: " + b"v" * 16 + b"\r\n") * 3, None),  # 66 bytes
        (b"GET / HTTP/1.1\r\n" + (b"AB: " + b"v" * 16 + b"\r\n") * 4, "max_total_header_size"),
        (
            b"GET / HTTP/1.1\r\n" + (b"AB: " + b"v" * 16 + b"\r\n") * 3 + b"C: " + b"v" * 20,
            "max_total_header_size",
        ),
    ],
)
def test_limits(data: bytes, limit: str | None) -> None:
    assert refusal(data) == limit


#: small heads pass these whole (the meter's fast path) unless they have too many lines
ROOMY = RequestLimits(
    max_request_line=400, max_header_size=400, max_total_header_size=400, max_headers=4
)


@pytest.mark.parametrize("limits", [SMALL, ROOMY], ids=["small", "roomy"])
@given(data=st.data())
def test_any_split_measures_like_one_piece(limits: RequestLimits, data: st.DataObject) -> None:
    """However TCP cuts the bytes, the meter ends the head at the same byte or refuses it
    with the same limit (one piece may take the fast path, pieces never do)."""
    lines = data.draw(
        st.lists(
            st.one_of(
                st.binary(max_size=30),
                st.sampled_from([b"", b"\r", b"\n", b"Host: x", b"\r\n", b"A: b\n"]),
            ),
            max_size=8,
        )
    )
    first = data.draw(
        st.sampled_from([b"GET / HTTP/1.1", b"\r\nGET /", b"\nGET /", b"\r\n\r\nGET /"])
    )
    raw = b"\r\n".join([first, *lines]) + b"\r\n\r\nrest"
    whole = HeadMeter(limits)
    try:
        expected: int | str = whole.measure(raw)
    except RequestRefused as refused:
        expected = refused.limit
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=10)))
    meter = HeadMeter(limits)
    got: int | str = -1
    offset = 0
    try:
        for start, stop in zip([0, *cuts], [*cuts, len(raw)], strict=True):
            end = meter.measure(raw[start:stop])
            if end >= 0:
                got = offset + end
                break
            offset = stop
    except RequestRefused as refused:
        got = refused.limit
    assert got == expected


def test_the_refusal_names_its_limit_and_closes() -> None:
    try:
        HeadMeter(RequestLimits()).measure(b"GET / HTTP/1.1\r\nX: " + b"v" * 20000)
    except RequestRefused as refused:
        wire = refused.response([(b"date", b"today")])
    else:
        raise AssertionError("not refused")
    head, _, body = wire.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\ndate: today\r\n")
    assert b"connection: close" in head and b"content-length: %d" % len(body) in head
    assert body == b"a request header is longer than 16384 bytes (server.max_header_size)\n"


def test_the_server_section_gives_the_limits() -> None:
    config = parse_config(
        {
            "server": {
                "max_request_line": 4096,
                "max_header_size": 2048,
                "max_total_header_size": 32768,
                "max_headers": 50,
                "max_pending_headers_size": 1024 * 1024,
                "header_timeout": "2s",
                "body_timeout": 0.5,
                "keepalive_timeout": "1m",
            }
        }
    )
    assert request_limits(config.server) == RequestLimits(
        max_request_line=4096,
        max_header_size=2048,
        max_total_header_size=32768,
        max_headers=50,
        max_pending_headers_size=1024 * 1024,
        header_timeout=2.0,
        body_timeout=0.5,
        keepalive_timeout=60.0,
    )
    assert request_limits(parse_config({}).server) == RequestLimits()


LIMIT_KEYS = (
    "max_request_line",
    "max_header_size",
    "max_total_header_size",
    "max_headers",
    "max_pending_headers_size",
    "header_timeout",
    "body_timeout",
    "keepalive_timeout",
)


def test_the_readme_gives_every_limit_with_its_default() -> None:
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", configuration, re.DOTALL)
    assert block is not None
    server = yaml.safe_load(block.group(1))["server"]
    documented = parse_config({"server": {key: server[key] for key in LIMIT_KEYS}}).server
    assert request_limits(documented) == RequestLimits() == request_limits(ServerConfig())
    section = configuration.split("### Request limits", 1)[1]
    for key in LIMIT_KEYS:
        assert f"| `{key}` |" in section


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("header_timeout", "0s"),
        ("body_timeout", "2h"),
        ("keepalive_timeout", "soon"),
        ("max_header_size", 100),
        ("max_headers", 0),
        ("max_request_line", "8k"),
        ("max_pending_headers_size", 1024),
    ],
)
def test_bad_limits_are_config_errors_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"server": {key: value}})
    assert f"server.{key}" in str(error.value)


def test_the_pending_budget_holds_at_least_one_whole_head() -> None:
    with pytest.raises(ConfigError, match="max_pending_headers_size must hold one whole"):
        parse_config({"server": {"max_pending_headers_size": 65536}})
    small = {"max_total_header_size": 1024, "max_request_line": 1024}
    parse_config({"server": {**small, "max_pending_headers_size": 65536}})


# ------------------------------------------------------------------ the protocol, in process


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def _connect(
    limits: RequestLimits,
    app: Any = _app,
    cls: type[HttpToolsProtocol] = HttpProtocol,
    state: ServerState | None = None,
    pending: PendingHeads | None = None,
) -> tuple[HttpToolsProtocol, RecordingTransport]:
    config = uvicorn.Config(app, ws="none", log_level="warning")
    config.load()
    state = state or ServerState()
    protocol = (
        cls(config, state, {}, limits=limits, pending=pending)
        if cls is HttpProtocol
        else cls(config, state, {})
    )
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def _written(transport: RecordingTransport) -> bytes:
    return b"".join(transport.writes)


async def test_an_oversized_header_is_refused_without_reaching_the_parser() -> None:
    protocol, transport = _connect(RequestLimits())
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    piece = b"v" * 4096
    for _ in range(5):
        protocol.data_received(piece)
    await turn()
    assert _written(transport).startswith(b"HTTP/1.1 431 ")
    assert transport.eof  # half-closed: what still comes is dropped
    protocol.data_received(piece)  # whatever still arrives is dropped
    assert _written(transport).count(b"HTTP/1.1") == 1


async def test_a_refused_head_is_let_go_at_once() -> None:
    """What the parser gathered of a refused head is dropped with the refusal, not when the
    (lingering) connection is finally gone."""
    protocol, _ = _connect(RequestLimits())
    assert isinstance(protocol, HttpProtocol)
    protocol.data_received(b"GET / HTTP/1.1\r\n" + b"A: " + b"a" * 15000 + b"\r\n" * 1)
    protocol.data_received(b"B: " + b"b" * 15000 + b"\r\nC: c")
    parser = protocol.parser
    assert [name for name, _ in protocol.headers] == [b"a", b"b"]
    protocol.data_received(b"c" * 20000)  # C passes max_header_size
    assert protocol.headers == [] and protocol.url == b"" and protocol.parser is not parser


async def test_memory_stays_bounded_while_a_huge_header_streams_in() -> None:
    """64 MiB of one header value: uvicorn's own protocol holds it all; regauth's refuses it
    after 16 KiB and keeps nothing. (The comparison shows the test can fail.)"""
    piece = b"v" * 65536

    async def peak(cls: type[HttpToolsProtocol], pieces: int) -> int:
        protocol, _ = _connect(RequestLimits(), cls=cls)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        tracemalloc.start()
        try:
            for _ in range(pieces):
                protocol.data_received(piece)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            protocol.connection_lost(None)

    assert await peak(HttpProtocol, 1024) < 256 * 1024  # 64 MiB offered
    assert await peak(HttpToolsProtocol, 64) > 4 * 1024 * 1024  # 4 MiB offered, all kept


async def test_requests_after_a_body_are_measured_too() -> None:
    """Pipelined behind a body, the meter resumes exactly where the Content-Length ends."""
    protocol, transport = _connect(SMALL)
    protocol.data_received(
        b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n"
    )
    await turn()
    assert _written(transport).count(b"HTTP/1.1 200 OK") == 2
    protocol.data_received(b"GET /c HTTP/1.1\r\nX: " + b"v" * 40 + b"\r\n\r\n")
    await turn()
    assert b"HTTP/1.1 431 " in _written(transport) and transport.eof
    # an oversized head behind a body while its answer is on its way: that answer is
    # finished, the connection closed after it, and the oversized request never answered
    protocol, transport = _connect(SMALL)
    protocol.data_received(
        b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nX: "
        + b"v" * 40
        + b"\r\n\r\n"
    )
    await turn()
    written = _written(transport)
    assert written.startswith(b"HTTP/1.1 200 OK") and written.count(b"HTTP/1.1 ") == 1
    assert transport.closed


async def test_a_chunked_request_is_the_last_one_on_its_connection() -> None:
    protocol, transport = _connect(RequestLimits())
    protocol.data_received(
        b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /b HTTP/1.1\r\n\r\n"
    )
    await turn()
    written = _written(transport)
    assert written.count(b"HTTP/1.1 200 OK") == 1 and b"connection: close" in written
    assert transport.closed


async def test_keep_alive_goes_on_between_measured_requests() -> None:
    protocol, transport = _connect(RequestLimits())
    for _ in range(3):
        protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        await turn()
        protocol.data_received(HEAD)
        await turn()
    assert _written(transport).count(b"HTTP/1.1 200 OK") == 6
    assert not transport.closed


async def test_a_head_the_parser_ends_elsewhere_is_not_served_further() -> None:
    """No valid request makes the meter and the parser disagree; a parser told to take a lone
    CR as a line end does, and nothing after the disagreement is served."""
    protocol, transport = _connect(RequestLimits())
    protocol.parser.set_dangerous_leniencies(lenient_optional_lf_after_cr=True)
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\rGET /b HTTP/1.1\r\n\r\n")
    await turn()
    assert _written(transport).count(b"HTTP/1.1 200 OK") == 1
    assert transport.closed


async def test_header_timeout_from_connect_and_from_the_first_byte() -> None:
    limits = RequestLimits(header_timeout=0.05, keepalive_timeout=10)
    _, silent_transport = _connect(limits)
    slow, slow_transport = _connect(limits)
    slow.data_received(b"GET / HTTP/1.1\r\nHo")
    await asyncio.sleep(0.1)
    assert silent_transport.closed and silent_transport.writes == []  # nothing sent: no word
    assert slow_transport.eof
    assert _written(slow_transport).startswith(b"HTTP/1.1 408 Request Timeout")
    assert b"(server.header_timeout)" in _written(slow_transport)
    # on a kept-alive connection the clock starts at the next request's first byte
    kept, kept_transport = _connect(limits)
    kept.data_received(HEAD)
    await asyncio.sleep(0.1)
    assert not kept_transport.closed
    kept.data_received(b"GET")
    await asyncio.sleep(0.1)
    assert kept_transport.eof and _written(kept_transport).count(b"408") == 1


async def test_body_timeout_answers_408_unless_an_answer_was_sent() -> None:
    limits = RequestLimits(body_timeout=0.05)
    protocol, transport = _connect(limits)
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    await asyncio.sleep(0.1)
    assert _written(transport).startswith(b"HTTP/1.1 408 Request Timeout")
    assert transport.eof

    async def hasty(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = _connect(limits, app=hasty)
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    await asyncio.sleep(0.1)
    assert _written(transport).startswith(b"HTTP/1.1 413 ")
    assert b"408" not in _written(transport) and transport.closed


async def test_idle_keep_alive_closes_after_keepalive_timeout() -> None:
    protocol, transport = _connect(RequestLimits(keepalive_timeout=0.05))
    protocol.data_received(HEAD)
    await turn()
    assert not transport.closed
    await asyncio.sleep(0.1)
    assert transport.closed and _written(transport).count(b"HTTP/1.1") == 1


async def test_a_refusal_waits_for_the_answer_in_progress() -> None:
    release = asyncio.Event()

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await _app(scope, receive, send)

    protocol, transport = _connect(SMALL, app=slow)
    protocol.data_received(b"GET /a HTTP/1.1\r\n\r\n")
    protocol.data_received(b"GET /b HTTP/1.1\r\nX: " + b"v" * 40)
    await turn()
    assert transport.writes == [] and not transport.closed
    release.set()
    await turn()
    assert _written(transport).startswith(b"HTTP/1.1 200 OK") and transport.closed
    assert b"431" not in _written(transport)


async def test_after_a_refusal_what_still_comes_is_read_and_dropped_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lingering close: the answer and a half-close first, then the client's remaining
    bytes are read and dropped (closing with unread bytes would reset the connection and lose
    the answer), up to a limit in bytes and in time."""
    from regauth.web import http_protocol

    protocol, transport = _connect(SMALL)
    protocol.data_received(b"GET / HTTP/1.1\r\nX: " + b"v" * 40)
    assert transport.eof and not transport.closed
    piece = b"v" * 65536
    for _ in range(http_protocol.LINGER_BYTES // len(piece)):
        protocol.data_received(piece)
    assert not transport.closed and _written(transport).count(b"HTTP/1.1") == 1
    protocol.data_received(b"v")
    assert transport.closed  # enough

    monkeypatch.setattr(http_protocol, "LINGER_SECONDS", 0.05)
    protocol, transport = _connect(SMALL)
    protocol.data_received(b"GET / HTTP/1.1\r\nX: " + b"v" * 40)
    await asyncio.sleep(0.1)
    assert transport.closed  # long enough


async def test_unfinished_heads_of_all_connections_share_one_budget() -> None:
    """Many connections each under the limits: past the process's budget the ones holding
    the most are refused (503), whole requests are served as ever."""
    state = ServerState()
    pending = PendingHeads(limit=40_000)
    limits = RequestLimits()
    held = []
    for size in (5_000, 15_000, 10_000):
        protocol, transport = _connect(limits, state=state, pending=pending)
        protocol.data_received(b"GET / HTTP/1.1\r\nX: " + b"v" * size)
        held.append((protocol, transport))
    assert pending.total == sum(len(b"GET / HTTP/1.1\r\nX: ") + n for n in (5_000, 15_000, 10_000))
    whole, whole_transport = _connect(limits, state=state, pending=pending)
    whole.data_received(HEAD)  # holds nothing
    await turn()
    assert _written(whole_transport).startswith(b"HTTP/1.1 200 OK")
    held[0][0].data_received(b"\r\nY: " + b"v" * 12_000)  # 17 kB now: over budget (42 kB)
    refused = [t for _, t in held if t.writes]
    assert len(refused) == 1 and refused[0] is held[0][1]  # the largest holder
    assert _written(refused[0]).startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"(server.max_pending_headers_size)" in _written(refused[0])
    assert pending.total == 2 * len(b"GET / HTTP/1.1\r\nX: ") + 25_000
    # a small holder that tips it over: the largest goes, found by a search
    newcomer, newcomer_transport = _connect(limits, state=state, pending=pending)
    newcomer.data_received(b"GET / HTTP/1.1\r\nX: " + b"v" * 14_000)
    assert pending.holders == 3 and not newcomer_transport.writes
    held[2][0].data_received(b"v" * 1_000)
    assert _written(held[1][1]).startswith(b"HTTP/1.1 503 ")
    assert not held[2][1].writes and not newcomer_transport.writes
    newcomer.connection_lost(None)  # a connection that goes away gives its share back
    assert pending.total == len(b"GET / HTTP/1.1\r\nX: ") + 11_000 and pending.holders == 1


def test_a_reload_keeps_the_limits_until_a_restart() -> None:
    """Each worker's protocol takes the limits once: a reload names them and keeps them."""
    from regauth.config.reloading import restart_only_changes, with_restart_only_from

    old = parse_config({"acl": []})
    new = parse_config(
        {
            "server": {"max_header_size": 4096, "body_timeout": "5s"},
            "acl": [{"match": {}, "actions": ["pull"]}],
        }
    )
    assert restart_only_changes(old, new) == ["server.max_header_size", "server.body_timeout"]
    kept = with_restart_only_from(old, new)
    assert request_limits(kept.server) == RequestLimits()
    assert kept.acl == new.acl
