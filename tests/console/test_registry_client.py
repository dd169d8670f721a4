"""The registry client's pure parts: names, digests, the Link header, image config times."""

from __future__ import annotations

import datetime

import pytest

from regauth.web.console.registry_client import _next_last, valid_digest, valid_repository_name
from regauth.web.console.repositories import parse_created


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("sha256:" + "0" * 64, True),
        ("sha512:" + "ab" * 64, True),
        ("multihash+base58:" + "Q" * 40, True),
        ("latest", False),
        ("sha256:abc", False),
        (":" + "a" * 64, False),
        ("-sha:" + "a" * 64, False),
        ("sha256:" + "a" * 63 + "/", False),
        ("sha256:" + "a" * 300, False),
    ],
)
def test_digests(text: str, valid: bool) -> None:
    assert valid_digest(text) is valid


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("alice/app", True),
        ("a/b.c/d__e/f-g", True),
        ("Alice/app", False),
        ("alice/../x", False),
        ("alice//app", False),
        ("alice/app/", False),
        ("a" * 256, False),
    ],
)
def test_repository_names(text: str, valid: bool) -> None:
    assert valid_repository_name(text) is valid


@pytest.mark.parametrize(
    ("link", "last"),
    [
        ('</v2/_catalog?last=b%2Fx&n=1>; rel="next"', "b/x"),
        ("</v2/_catalog?n=1&last=b>; rel=next", "b"),
        ('</v2/x>; rel="next"', None),
        ('</v2/_catalog?last=a>; rel="prev"', None),
        ("", None),
        ("<" * 20000, None),
    ],
)
def test_next_page_from_the_link_header(link: str, last: str | None) -> None:
    assert _next_last(link) == last


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("1970-01-01T00:00:00Z", datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)),
        (
            "2024-05-06T07:08:09.123456789Z",
            datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC),
        ),
        (
            "2024-05-06T09:08:09+02:00",
            datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
        ),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_image_creation_times(value: object, moment: datetime.datetime | None) -> None:
    assert parse_created(value) == moment
