"""Durations and expiries: one range-checked parser; out-of-range text is a ValueError with one
sentence, never an OverflowError."""

from __future__ import annotations

import datetime

import pytest

from regauth.config import ConfigError, parse_config
from regauth.durations import (
    MAX_DURATION,
    OutOfRange,
    duration_from_seconds,
    parse_duration,
    parse_expiry,
    parse_moment,
)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", 90 * DAY),
        ("12h", datetime.timedelta(hours=12)),
        ("30m", datetime.timedelta(minutes=30)),
        ("45s", datetime.timedelta(seconds=45)),
        ("2w", 14 * DAY),
        ("3600", datetime.timedelta(hours=1)),
        (" 12 H ", datetime.timedelta(hours=12)),
        ("0", datetime.timedelta(0)),
        ("36500d", MAX_DURATION),
        ("0000000000000000000000000001d", DAY),
    ],
)
def test_durations(text: str, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("99999999999d", "longer than 36500d (100 years)"),
        ("36501d", "longer than 36500d"),
        ("5215w", "longer than 36500d"),
        ("9" * 40, "longer than 36500d"),
        ("9" * 41, "not a duration"),  # longer text than any duration: not parsed at all
        ("9" * 5000, "not a duration"),  # past int()'s 4300-digit limit: still our sentence
        ("-5d", "not a duration"),
        ("1.5h", "not a duration"),
        ("1e9", "not a duration"),
        ("\u0663d", "not a duration"),  # an Arabic-Indic digit: \d would take it
        ("\u00b2", "not a duration"),  # a superscript two: str.isdigit() would take it
        ("", "not a duration"),
        ("d", "not a duration"),
        ("5y", "not a duration"),
    ],
)
def test_bad_durations_are_one_sentence(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"^[^\n]+$") as raised:
        parse_duration(text)
    assert fragment in str(raised.value)
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (1e300, "longer than 36500d"),
        (float("inf"), "longer than 36500d"),
        (float("nan"), "not a duration"),
        (-1, "must not be negative"),
        (-0.5, "must not be negative"),
        (True, "not a duration"),
        (10**400, "longer than 36500d"),
    ],
)
def test_numbers_of_seconds_are_range_checked(value: float, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        duration_from_seconds(value)


def test_numbers_of_seconds() -> None:
    assert duration_from_seconds(90) == datetime.timedelta(seconds=90)
    assert duration_from_seconds(1.5) == datetime.timedelta(seconds=1.5)
    assert duration_from_seconds(0) == datetime.timedelta(0)


def test_expiries() -> None:
    assert parse_expiry(None, NOW) is None
    assert parse_expiry(" Never ", NOW) is None
    assert parse_expiry("30d", NOW) == NOW + 30 * DAY
    assert parse_expiry("2027-01-31", NOW) == datetime.datetime(2027, 1, 31, tzinfo=datetime.UTC)
    zoned = parse_expiry("2027-01-31T12:00:00+02:00", NOW)
    assert zoned == datetime.datetime(2027, 1, 31, 10, tzinfo=datetime.UTC)
    assert zoned is not None and zoned.tzinfo is datetime.UTC
    assert parse_expiry("36500d", NOW) == NOW + MAX_DURATION


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("99999999999d", "longer than 36500d"),
        ("36501d", "longer than 36500d"),
        ("0s", "must be in the future"),
        ("2001-01-01", "must be in the future"),
        ("9999-12-31", "more than 100 years away (use never"),
        ("9999-12-31T23:59:59-05:00", "more than 100 years away"),  # overflows datetime in UTC
        ("0001-01-01T00:00:00+05:00", "must be in the future"),
        ("2200-01-01", "more than 100 years away"),
        ("yesterday", "not an expiry"),
        ("x" * 10_000, "not an expiry"),
    ],
)
def test_bad_expiries(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_expiry(text, NOW)
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 200


def test_out_of_range_is_its_own_kind() -> None:
    with pytest.raises(OutOfRange):
        parse_duration("99999999999d")
    with pytest.raises(OutOfRange):
        parse_expiry("9999-12-31", NOW)


def test_moments() -> None:
    assert parse_moment("1h", NOW) == NOW - datetime.timedelta(hours=1)
    assert parse_moment("2026-11-25", NOW) == datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)
    assert parse_moment("9999-12-31", NOW).year == 9999  # a filter may lie far away
    for text, fragment in [
        ("99999999999d", "longer than 36500d"),
        ("0001-01-01T00:00:00+01:00", "time out of range"),
        ("9999-12-31T23:59:59-01:00", "time out of range"),
        ("whenever", "not a time"),
        ("-5d", "not a time"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            parse_moment(text, NOW)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("99999999999d", "refresh_tokens.idle_lifetime: duration '99999999999d' is longer"),
        (1e300, "refresh_tokens.idle_lifetime: duration longer than 36500d"),
        (float("inf"), "refresh_tokens.idle_lifetime: duration longer than 36500d"),
        (float("nan"), "refresh_tokens.idle_lifetime: not a duration"),
        (-5, "refresh_tokens.idle_lifetime: a duration must not be negative"),
        (True, "refresh_tokens.idle_lifetime: not a duration"),
        ([1], "refresh_tokens.idle_lifetime: not a duration"),
    ],
)
def test_configuration_durations_use_the_same_parser(value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"refresh_tokens": {"idle_lifetime": value}}, environ={})
    assert raised.value.problems == [fragment] or fragment in str(raised.value)
    config = parse_config({"refresh_tokens": {"idle_lifetime": " 12 h "}}, environ={})
    assert config.refresh_tokens.idle_lifetime == datetime.timedelta(hours=12)
