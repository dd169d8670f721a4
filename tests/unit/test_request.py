"""Token request parsing: GET with Basic, the OAuth2 POST form, and hostile input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.protocol.errors import (
    InvalidRequest,
    ProtocolError,
    Unauthorized,
    UnsupportedGrantType,
)
from regauth.protocol.request import (
    GrantType,
    parse_basic_authorization,
    parse_get,
    parse_post,
)

FORM = "application/x-www-form-urlencoded"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_get_with_everything_docker_sends() -> None:
    request = parse_get(
        "account=alice&client_id=docker&offline_token=true&service=registry"
        "&scope=repository%3Aalice%2Fapp%3Apull%2Cpush&scope=repository:old:pull",
        basic("alice", "s3cret:with:colons"),
    )
    assert request.grant_type is GrantType.BASIC
    assert request.service == "registry"
    assert request.account == "alice"
    assert request.client_id == "docker"
    assert request.offline is True
    assert [str(s) for s in request.scopes] == [
        "repository:alice/app:pull,push",
        "repository:old:pull",
    ]
    assert request.credentials is not None
    assert request.credentials.username == "alice"
    assert request.credentials.password.reveal() == "s3cret:with:colons"


def test_login_request_has_no_scope() -> None:
    request = parse_get("account=alice&service=registry", basic("alice", "pw"))
    assert request.scopes == ()


def test_space_separated_scopes_in_one_parameter() -> None:
    request = parse_get("scope=repository:a:pull+repository:b:push", None)
    assert [s.name for s in request.scopes] == ["a", "b"]


def test_no_authorization_is_anonymous() -> None:
    assert parse_get("service=registry", None).credentials is None
    assert parse_basic_authorization(None) is None
    assert parse_basic_authorization("") is None
    assert parse_basic_authorization(basic("", "")) is None


@pytest.mark.parametrize(
    ("header", "error", "fragment"),
    [
        ("Basic !!!notbase64", InvalidRequest, "not base64"),
        ("Basic " + base64.b64encode(b"nocolon").decode(), InvalidRequest, "lack a ':'"),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), InvalidRequest, "UTF-8"),
        ("Basic " + base64.b64encode(b"a\x01b:x").decode(), InvalidRequest, "control"),
        ("Bearer abc.def.ghi", Unauthorized, "unsupported authorization scheme"),
        ("Digest username=x", Unauthorized, "unsupported authorization scheme"),
        ("Basic " + "A" * 40000, InvalidRequest, "too long"),
    ],
)
def test_malformed_authorization(header: str, error: type[ProtocolError], fragment: str) -> None:
    with pytest.raises(error) as caught:
        parse_basic_authorization(header)
    assert fragment in caught.value.message


def test_basic_scheme_is_case_insensitive() -> None:
    creds = parse_basic_authorization("basic " + base64.b64encode(b"bob:pw").decode())
    assert creds is not None
    assert creds.username == "bob"


def test_password_is_never_printed() -> None:
    creds = parse_basic_authorization(basic("bob", "hunter2"))
    assert creds is not None
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds)
    assert "hunter2" not in f"{creds.password}"


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("service=a&service=b", "'service' given more than once"),
        ("account=a&account=b", "'account' given more than once"),
        ("service=%ff", "UTF-8"),
        ("service=a%0Ab", "control characters"),
        ("scope=repository:x", "malformed scope"),
        ("&".join(f"x{i}=1" for i in range(300)), "more than 256 fields"),
    ],
)
def test_malformed_get(query: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_get(query, None)
    assert fragment in caught.value.message


def test_identical_repeated_parameters_are_tolerated() -> None:
    assert parse_get("service=a&service=a", None).service == "a"


def test_post_password_grant() -> None:
    body = (
        b"grant_type=password&username=alice&password=p%26w%3D&client_id=containerd"
        b"&service=registry&scope=repository%3Aa%3Apull+repository%3Ab%3Apush&access_type=offline"
    )
    request = parse_post(body, FORM + "; charset=utf-8")
    assert request.grant_type is GrantType.PASSWORD
    assert request.is_oauth2
    assert request.credentials is not None
    assert request.credentials.password.reveal() == "p&w="
    assert request.offline is True
    assert request.client_id == "containerd"
    assert [s.name for s in request.scopes] == ["a", "b"]


def test_post_refresh_grant() -> None:
    request = parse_post(
        b"grant_type=refresh_token&refresh_token=abc&client_id=containers%2Fimage"
        b"&service=registry&scope=repository%3Aa%3Apull",
        FORM,
    )
    assert request.grant_type is GrantType.REFRESH_TOKEN
    assert request.refresh_token is not None
    assert request.refresh_token.reveal() == "abc"
    assert request.credentials is None


@pytest.mark.parametrize(
    ("body", "content_type", "error", "fragment"),
    [
        (
            b"grant_type=password&username=a&password=b",
            "application/json",
            InvalidRequest,
            "content type",
        ),
        (b"grant_type=password&username=a&password=b", None, InvalidRequest, "content type"),
        (b"username=a&password=b", FORM, InvalidRequest, "missing grant_type"),
        (b"grant_type=password&username=a", FORM, InvalidRequest, "one username and one password"),
        (b"grant_type=password&password=b", FORM, InvalidRequest, "one username and one password"),
        (
            b"grant_type=password&username=a&password=b&password=c",
            FORM,
            InvalidRequest,
            "one username and one password",
        ),
        (b"grant_type=refresh_token", FORM, InvalidRequest, "needs one refresh_token"),
        (b"grant_type=client_credentials", FORM, UnsupportedGrantType, "unsupported grant_type"),
        (b"grant_type=password&username=\xff&password=b", FORM, InvalidRequest, "ASCII"),
        (
            b"grant_type=password&username=a&password=b&scope=bad",
            FORM,
            InvalidRequest,
            "malformed scope",
        ),
    ],
)
def test_malformed_post(
    body: bytes, content_type: str | None, error: type[ProtocolError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        parse_post(body, content_type)
    assert fragment in caught.value.message
    assert caught.value.status == 400


def test_unsupported_grant_has_oauth_code() -> None:
    with pytest.raises(UnsupportedGrantType) as caught:
        parse_post(b"grant_type=authorization_code", FORM)
    assert caught.value.oauth_body()["error"] == "unsupported_grant_type"


@given(st.binary(max_size=400), st.sampled_from([FORM, "text/plain", None]))
def test_post_parser_raises_only_protocol_errors(body: bytes, content_type: str | None) -> None:
    try:
        parse_post(body, content_type)
    except ProtocolError as exc:
        assert 400 <= exc.status < 500


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=100)))
def test_get_parser_raises_only_protocol_errors(query: str, header: str | None) -> None:
    try:
        parse_get(query, header)
    except ProtocolError as exc:
        assert 400 <= exc.status < 500
