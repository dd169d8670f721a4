"""Token requests, parsed from the two forms the Distribution specs define.

* GET with HTTP Basic credentials and query parameters ("Token Authentication Specification").
* POST with an ``application/x-www-form-urlencoded`` body ("OAuth2 Token Authentication"):
  ``grant_type=password`` or ``grant_type=refresh_token``.

Both produce the same :class:`TokenRequest`; nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from regauth.protocol.errors import InvalidRequest, Unauthorized, UnsupportedGrantType
from regauth.protocol.scope import Scope, parse_scopes
from regauth.protocol.secret import Secret

__all__ = [
    "MAX_FIELDS",
    "BasicCredentials",
    "GrantType",
    "QueryParameters",
    "TokenRequest",
    "parse_basic_authorization",
    "parse_get",
    "parse_post",
    "parse_query",
]

MAX_FIELDS = 256
MAX_USERNAME_LENGTH = 256
MAX_SECRET_LENGTH = 8192
_TRUE = frozenset({"true", "1", "yes", "on"})


class GrantType(enum.Enum):
    """How the credentials came: Basic on GET, or an OAuth2 grant on POST."""

    BASIC = "basic"
    PASSWORD = "password"  # noqa: S105 - the OAuth2 grant name, not a password
    REFRESH_TOKEN = "refresh_token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class TokenRequest:
    grant_type: GrantType
    service: str | None = None
    scopes: tuple[Scope, ...] = ()
    #: None means no credentials were presented (anonymous)
    credentials: BasicCredentials | None = None
    account: str | None = None
    client_id: str | None = None
    #: a refresh token was asked for (``offline_token=true`` or ``access_type=offline``)
    offline: bool = False
    refresh_token: Secret | None = field(default=None)

    @property
    def is_oauth2(self) -> bool:
        return self.grant_type is not GrantType.BASIC


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_username(username: str) -> None:
    if len(username) > MAX_USERNAME_LENGTH:
        raise InvalidRequest(f"username longer than {MAX_USERNAME_LENGTH} characters")
    if _CONTROL.search(username):
        raise InvalidRequest("username contains control characters")


def parse_basic_authorization(header: str | None) -> BasicCredentials | None:
    """Parse ``Authorization: Basic ...``; None when there is no header (anonymous)."""
    if header is None or not header.strip():
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized(
            "unsupported authorization scheme: the token endpoint takes HTTP Basic credentials"
        )
    encoded = encoded.strip()
    if len(encoded) > 2 * (MAX_SECRET_LENGTH + MAX_USERNAME_LENGTH):
        raise InvalidRequest("malformed Authorization header: credentials too long")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "malformed Authorization header: Basic credentials are not base64 of UTF-8 text"
        ) from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidRequest("malformed Authorization header: Basic credentials lack a ':'")
    if not username and not password:
        return None
    _check_username(username)
    return BasicCredentials(username, Secret(password))


def _parse_pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidRequest(f"malformed {where}: not valid UTF-8 after percent-decoding") from None
    except ValueError:
        raise InvalidRequest(f"malformed {where}: more than {MAX_FIELDS} fields") from None


def _group(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _single(params: dict[str, list[str]], key: str) -> str | None:
    """The value of a parameter that may appear once (repeats of the same value are tolerated)."""
    values = params.get(key)
    if not values:
        return None
    value = values[0]
    if len(values) > 1 and any(v != value for v in values):
        raise InvalidRequest(f"parameter {key!r} given more than once with different values")
    if _CONTROL.search(value):
        raise InvalidRequest(f"parameter {key!r} contains control characters")
    return value or None


@dataclass(frozen=True, slots=True)
class QueryParameters:
    """What a GET token request's query string asks for (everything but the credentials)."""

    service: str | None
    scopes: tuple[Scope, ...]
    account: str | None
    client_id: str | None
    offline: bool


def parse_query(query_string: str) -> QueryParameters:
    """A GET token request's query string; InvalidRequest names what is wrong with it."""
    params = _group(_parse_pairs(query_string, "query string"))
    return QueryParameters(
        service=_single(params, "service"),
        scopes=parse_scopes(params.get("scope", ())),
        account=_single(params, "account"),
        client_id=_single(params, "client_id"),
        offline=(_single(params, "offline_token") or "").lower() in _TRUE,
    )


def parse_get(query_string: str | QueryParameters, authorization: str | None) -> TokenRequest:
    """A GET token request: query parameters (a query string, or one parsed before) plus
    optional Basic credentials."""
    query = parse_query(query_string) if isinstance(query_string, str) else query_string
    return TokenRequest(
        grant_type=GrantType.BASIC,
        service=query.service,
        scopes=query.scopes,
        credentials=parse_basic_authorization(authorization),
        account=query.account,
        client_id=query.client_id,
        offline=query.offline,
    )


def parse_post(body: bytes, content_type: str | None) -> TokenRequest:
    """An OAuth2 token request (form body). Credentials come from the form, not a header."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise InvalidRequest(
            "unsupported content type: the OAuth2 token request must be "
            "application/x-www-form-urlencoded"
        )
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequest("malformed form body: not URL-encoded ASCII") from None
    pairs = _group(_parse_pairs(text, "form body"))
    grant = _single(pairs, "grant_type")
    if grant is None:
        raise InvalidRequest("missing grant_type")
    service = _single(pairs, "service")
    scopes = parse_scopes(pairs.get("scope", ()))
    client_id = _single(pairs, "client_id")
    offline = (_single(pairs, "access_type") or "").lower() == "offline"
    if grant == "password":
        username = _single(pairs, "username")
        password = pairs.get("password", [])
        if not username or len(password) != 1 or not password[0]:
            raise InvalidRequest("grant_type=password needs one username and one password")
        _check_username(username)
        if len(password[0]) > MAX_SECRET_LENGTH:
            raise InvalidRequest("password too long")
        return TokenRequest(
            grant_type=GrantType.PASSWORD,
            service=service,
            scopes=scopes,
            credentials=BasicCredentials(username, Secret(password[0])),
            client_id=client_id,
            offline=offline,
        )
    if grant == "refresh_token":
        tokens = pairs.get("refresh_token", [])
        if len(tokens) != 1 or not tokens[0]:
            raise InvalidRequest("grant_type=refresh_token needs one refresh_token")
        if len(tokens[0]) > MAX_SECRET_LENGTH:
            raise InvalidRequest("refresh_token too long")
        return TokenRequest(
            grant_type=GrantType.REFRESH_TOKEN,
            service=service,
            scopes=scopes,
            account=_single(pairs, "username"),
            client_id=client_id,
            offline=offline,
            refresh_token=Secret(tokens[0]),
        )
    raise UnsupportedGrantType(
        f"unsupported grant_type {grant[:40]!r}: use password or refresh_token"
    )
