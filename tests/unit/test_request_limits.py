"""Request limits, the pure parts: the head meter, the refusal, the configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from regauth.config import ConfigError, ServerConfig, parse_config
from regauth.serve import request_limits
from regauth.web.request_limits import HeadMeter, RequestLimits, RequestRefused

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
