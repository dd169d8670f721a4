"""Property tests over the pure parsers: scopes, query strings and GET requests, OAuth2 forms,
Authorization headers, registry host names, durations and expiries.

Each parser either returns a value that keeps its promises or raises its own error (a 4xx
protocol error, a ValueError with one short line); never another exception, never slowly.
"""

from __future__ import annotations

import base64
import datetime
import time
from urllib.parse import quote, urlencode

from hypothesis import assume, given
from hypothesis import strategies as st

from regauth.admin_auth import AdminAuthError, parse_admin_authorization
from regauth.durations import (
    MAX_DURATION,
    duration_from_seconds,
    parse_duration,
    parse_expiry,
    parse_moment,
)
from regauth.protocol.errors import InvalidRequest, ProtocolError
from regauth.protocol.hostname import MAX_HOST_LENGTH, registry_host
from regauth.protocol.request import (
    MAX_FIELDS,
    GrantType,
    parse_basic_authorization,
    parse_get,
    parse_post,
    parse_query,
)
from regauth.protocol.scope import MAX_SCOPES, parse_scope, parse_scopes
from tests.fuzz.support import count, fuzz

#: seconds one parser call may take on any input (all are linear in input of at most 64 KiB)
BOUND = 1.0
FORM = "application/x-www-form-urlencoded"
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)

# ------------------------------------------------------------------------------ strategies

#: text the way clients mangle it: printable, control, non-ASCII and the grammar's own marks
weird_text = st.text(
    st.one_of(
        st.sampled_from(list(":/,.-_*()@+%&=;\"' \t\r\n\x00\x7f")),
        st.characters(codec="utf-8"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    ),
    max_size=400,
)
lower = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
component = st.builds(
    lambda a, sep, b: a + sep + b if sep else a,
    lower,
    st.sampled_from(["", ".", "_", "__", "-", "--"]),
    lower,
)
repository_name = st.builds(
    lambda host, parts: (host + "/" if host else "") + "/".join(parts),
    st.one_of(st.none(), st.sampled_from(["localhost:5000", "registry.example.com", "Reg-1.io"])),
    st.lists(component, min_size=1, max_size=4),
).filter(lambda name: len(name) <= 255)
actions = st.lists(st.sampled_from(["pull", "push", "delete", "*", "frob"]), min_size=1, max_size=4)
valid_scope = st.builds(
    lambda kind, name, acts: f"{kind}:{name}:{','.join(acts)}",
    st.sampled_from(["repository", "repository(plugin)", "registry"]),
    repository_name,
    actions,
)
#: a valid scope, one cut or spliced at random, or anything at all
scope_text = st.one_of(
    valid_scope,
    st.builds(lambda s, i: s[:i], valid_scope, st.integers(0, 60)),
    st.builds(lambda s, t, i: s[:i] + t + s[i:], valid_scope, weird_text, st.integers(0, 60)),
    weird_text,
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["a", "a:", ":", "a.", "a-", "(a"]),
        st.integers(1, 1500),
    ),
)


def quick(started: float) -> None:
    assert time.perf_counter() - started < BOUND


def check_error(exc: ProtocolError) -> None:
    assert 400 <= exc.status < 500
    assert exc.message
    assert "\n" not in exc.message
    assert len(exc.message) < 600


# ---------------------------------------------------------------------------------- scopes


@fuzz("scopes")
@given(scope_text)
def test_scopes(text: str) -> None:
    count()
    started = time.perf_counter()
    try:
        scope = parse_scope(text)
    except InvalidRequest as exc:
        check_error(exc)
    else:
        assert scope.name and scope.actions
        assert len(scope.name) <= 255
        assert len(set(scope.actions)) == len(scope.actions)
        assert parse_scope(str(scope)) == scope  # what we print, we parse back the same
    quick(started)


@fuzz("scope_lists")
@given(st.lists(st.one_of(valid_scope, scope_text), max_size=120), st.sampled_from([" ", "  "]))
def test_scope_lists(items: list[str], separator: str) -> None:
    count()
    started = time.perf_counter()
    try:
        scopes = parse_scopes([separator.join(items[:3]), *items[3:]])
    except InvalidRequest as exc:
        check_error(exc)
    else:
        assert len(scopes) <= MAX_SCOPES
        assert len({(s.type, s.name) for s in scopes}) == len(scopes)  # merged per resource
    quick(started)


@given(st.lists(st.tuples(repository_name, actions), min_size=1, max_size=20))
@fuzz("scopes")
def test_valid_scopes_are_granted_their_names(pairs: list[tuple[str, list[str]]]) -> None:
    count()
    texts = [f"repository:{name}:{','.join(acts)}" for name, acts in pairs]
    scopes = parse_scopes([" ".join(texts)])
    assert {s.name for s in scopes} == {name for name, _ in pairs}


# ------------------------------------------------------------------- query strings and GET

query_key = st.sampled_from(
    ["service", "scope", "account", "client_id", "offline_token", "x", "", "scope[]"]
)
query_pairs = st.lists(st.tuples(query_key, st.one_of(valid_scope, weird_text)), max_size=30)
raw_query = st.one_of(
    query_pairs.map(urlencode),
    query_pairs.map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=600),
    st.builds(lambda n: "a=1&" * n, st.integers(MAX_FIELDS - 2, MAX_FIELDS + 2)),
    st.builds(lambda n: "%" * n + "%C3%28", st.integers(0, 50)),
)


@fuzz("query_strings")
@given(raw_query)
def test_query_strings(query: str) -> None:
    count()
    started = time.perf_counter()
    try:
        parsed = parse_query(query)
    except InvalidRequest as exc:
        check_error(exc)
    else:
        for value in (parsed.service, parsed.account, parsed.client_id):
            assert value is None or not any(ord(c) < 0x20 or c == "\x7f" for c in value)
        assert len(parsed.scopes) <= MAX_SCOPES
    quick(started)


@fuzz("query_strings")
@given(
    st.text(
        st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="\x7f"),
        min_size=1,
        max_size=60,
    )
)
def test_query_values_round_trip(service: str) -> None:
    count()
    parsed = parse_query(urlencode({"service": service, "account": service}))
    assert parsed.service == service
    assert parsed.account == service


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


authorization = st.one_of(
    st.none(),
    st.builds(basic_header, weird_text, weird_text),
    st.builds(
        lambda s, v: f"{s} {v}",
        st.sampled_from(["Basic", "basic", "Bearer", "Digest", ""]),
        weird_text,
    ),
    st.builds(lambda n: "Basic " + "QUFB" * n, st.integers(0, 6000)),
    weird_text,
)


@fuzz("get_requests")
@given(raw_query, authorization)
def test_get_requests(query: str, header: str | None) -> None:
    count()
    started = time.perf_counter()
    try:
        request = parse_get(query, header)
    except ProtocolError as exc:
        check_error(exc)
    else:
        assert request.grant_type is GrantType.BASIC
        if request.credentials is not None:
            assert len(request.credentials.username) <= 256
    quick(started)


@fuzz("basic_authorization")
@given(authorization)
def test_basic_authorization(header: str | None) -> None:
    count()
    started = time.perf_counter()
    try:
        credentials = parse_basic_authorization(header)
    except ProtocolError as exc:
        check_error(exc)
        assert header is not None
    else:
        if credentials is not None:
            assert not any(ord(c) < 0x20 or c == "\x7f" for c in credentials.username)
    quick(started)


@fuzz("basic_authorization")
@given(
    st.text(
        st.characters(codec="utf-8", exclude_characters=":\x7f", min_codepoint=0x20),
        min_size=1,
        max_size=256,
    ),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),
)
def test_basic_credentials_round_trip(username: str, password: str) -> None:
    count()
    credentials = parse_basic_authorization(basic_header(username, password))
    assert credentials is not None
    assert credentials.username == username
    assert credentials.password.reveal() == password
    assert repr(credentials.password) == "Secret('***')"  # a secret never prints


@fuzz("admin_authorization")
@given(st.one_of(authorization, st.builds(lambda v: "Bearer " + v, weird_text)))
def test_admin_authorization(header: str | None) -> None:
    count()
    started = time.perf_counter()
    try:
        credentials = parse_admin_authorization(header)
    except AdminAuthError as exc:
        assert exc.status == 401
        assert "\n" not in exc.message
    else:
        assert credentials.token.reveal()
        assert repr(credentials.token) == "Secret('***')"
    quick(started)


# -------------------------------------------------------------------------------- OAuth2 form

form_key = st.sampled_from(
    [
        "grant_type",
        "username",
        "password",
        "refresh_token",
        "service",
        "scope",
        "client_id",
        "access_type",
        "x",
    ]
)
form_value = st.one_of(
    st.sampled_from(["password", "refresh_token", "offline", "authorization_code", ""]),
    valid_scope,
    weird_text,
    st.builds(lambda n: "p" * n, st.integers(8000, 9000)),
)
form_body = st.one_of(
    st.lists(st.tuples(form_key, form_value), max_size=20).map(lambda p: urlencode(p).encode()),
    st.binary(max_size=600),
    st.builds(lambda n: b"grant_type=password&" * n, st.integers(1, 300)),
)


@fuzz("oauth2_forms")
@given(
    form_body,
    st.sampled_from([FORM, FORM + "; charset=utf-8", "FORM", "application/json", "", None]),
)
def test_oauth2_forms(body: bytes, content_type: str | None) -> None:
    count()
    started = time.perf_counter()
    try:
        request = parse_post(body, content_type)
    except ProtocolError as exc:
        check_error(exc)
    else:
        assert request.is_oauth2
        if request.grant_type is GrantType.PASSWORD:
            assert request.credentials is not None and request.credentials.password.reveal()
        else:
            assert request.refresh_token is not None and request.refresh_token.reveal()
    quick(started)


@fuzz("oauth2_forms")
@given(
    st.text(
        st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="\x7f"),
        min_size=1,
        max_size=200,
    ),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=200),
    st.lists(valid_scope, max_size=5),
)
def test_password_grants_round_trip(username: str, password: str, scopes: list[str]) -> None:
    count()
    assume(username.strip() == username)
    body = urlencode(
        [("grant_type", "password"), ("username", username), ("password", password)]
        + [("scope", s) for s in scopes],
        quote_via=quote,
    ).encode()
    request = parse_post(body, FORM)
    assert request.credentials is not None
    assert request.credentials.username == username
    assert request.credentials.password.reveal() == password
    assert {str(s) for s in request.scopes} <= {str(s) for s in parse_scopes(scopes)}


# ------------------------------------------------------------------------- registry host names

label = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
host_name = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(label, min_size=1, max_size=5),
    st.one_of(st.none(), st.integers(1, 65535)),
)


@fuzz("host_names")
@given(
    st.one_of(
        host_name,
        weird_text,
        st.builds(
            lambda c, n: c * n + "!",
            st.sampled_from(["a", "a-", "a.", "1", "[::1"]),
            st.integers(1, 300),
        ),
        st.builds(lambda h, t: h + t, host_name, weird_text),
    )
)
def test_host_names(value: str) -> None:
    count()
    started = time.perf_counter()
    result = registry_host(value)
    assert result is None or (result == value and len(value) <= MAX_HOST_LENGTH and value.isascii())
    quick(started)


@fuzz("host_names")
@given(host_name)
def test_valid_host_names_are_accepted(value: str) -> None:
    count()
    assume(len(value) <= MAX_HOST_LENGTH)
    assert registry_host(value) == value


# ------------------------------------------------------------------------ durations, expiries

duration_text = st.one_of(
    st.builds(
        lambda n, space, unit: f"{n}{space}{unit}",
        st.one_of(st.integers(0, 10**6), st.integers(0, 10**40)),
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["", "s", "m", "h", "d", "w", "D", "y", "ms"]),
    ),
    st.builds(lambda n: "9" * n + "d", st.integers(1, 6000)),
    weird_text,
)


@fuzz("durations")
@given(duration_text)
def test_durations(text: str) -> None:
    count()
    started = time.perf_counter()
    try:
        delta = parse_duration(text)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert datetime.timedelta(0) <= delta <= MAX_DURATION
    quick(started)


@fuzz("durations")
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.booleans(),
    )
)
def test_seconds(value: float) -> None:
    count()
    try:
        delta = duration_from_seconds(value)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert datetime.timedelta(0) <= delta <= MAX_DURATION


expiry_text = st.one_of(
    duration_text,
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.sampled_from(["never", "None", "", " ", "yesterday", "9999-12-31T23:59:59-23:59"]),
)


@fuzz("expiries")
@given(expiry_text)
def test_expiries(text: str) -> None:
    count()
    started = time.perf_counter()
    try:
        moment = parse_expiry(text, NOW)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        if moment is not None:
            assert moment.tzinfo is not None
            assert NOW < moment <= NOW + MAX_DURATION
    try:
        since = parse_moment(text, NOW)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert since.utcoffset() == datetime.timedelta(0)
    quick(started)
