"""Durations and expiry times as people type them: ``30d``, ``12h``, ``2027-01-31``, ``never``.

One parser for the CLI, the admin API and the configuration, so the same text means the same
everywhere, and every value is range-checked here: a duration is at most :data:`MAX_DURATION`
(a hundred years), never negative, and an expiry lies in the future but no further than that.
Anything else (``99999999999d``, ``-5``, ``1e300``, a date in the year 9999) is a
:class:`ValueError` with one sentence, never an :class:`OverflowError` from :mod:`datetime`.
"""

from __future__ import annotations

import datetime
import math
import re

__all__ = [
    "MAX_DURATION",
    "OutOfRange",
    "check_expiry",
    "duration_from_seconds",
    "parse_duration",
    "parse_expiry",
    "parse_moment",
]

#: the longest duration anything accepts: a hundred years (``never`` means no expiry)
MAX_DURATION = datetime.timedelta(days=36_500)
_MAX_SECONDS = int(MAX_DURATION.total_seconds())
#: longer text is no duration: the longest valid one, ``3153600000 s``, has 12 characters
_MAX_TEXT = 40
_DURATION = re.compile(r"([0-9]+)[ \t]*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PAST = "the expiry must be in the future"
_TOO_FAR = "the expiry is more than 100 years away (use never for no expiry)"
_HINT = "use e.g. 30d, 12h, 90m or a number of seconds"
_TOO_LONG = "longer than 36500d (100 years)"


def _show(text: str) -> str:
    """``text`` quoted for a message: escaped, and at most about 40 characters."""
    shown = repr(text.strip())
    return shown if len(shown) <= _MAX_TEXT + 2 else shown[: _MAX_TEXT - 1] + "...'"


class OutOfRange(ValueError):
    """A well-formed value outside what regauth accepts (a duration over 100 years, ...)."""


def duration_from_seconds(seconds: float) -> datetime.timedelta:
    """A number of seconds (as a configuration file gives it) as a range-checked duration."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"not a duration: {_HINT}")
    if isinstance(seconds, float) and math.isnan(seconds):
        raise ValueError(f"not a duration: {_HINT}")
    if seconds < 0:
        raise OutOfRange("a duration must not be negative")
    if seconds > _MAX_SECONDS:
        raise OutOfRange(f"duration {_TOO_LONG}")
    return datetime.timedelta(seconds=seconds)


def parse_duration(text: str) -> datetime.timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``, ``45s`` or plain seconds, from 0 to 100 years."""
    shown = _show(text)
    match = _DURATION.fullmatch(text.strip().lower()) if len(text) <= _MAX_TEXT else None
    if match is None:
        raise ValueError(f"not a duration: {shown} ({_HINT})")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > _MAX_SECONDS:
        raise OutOfRange(f"duration {shown} is {_TOO_LONG}")
    return datetime.timedelta(seconds=seconds)


def check_expiry(moment: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """``moment`` (UTC when it names no zone) if it lies after ``now`` and at most 100 years
    later; else a ValueError."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        moment = moment.astimezone(datetime.UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 lies past the last datetime in UTC
        raise OutOfRange(_TOO_FAR if moment.year > 1 else _PAST) from None
    if moment <= now:
        raise OutOfRange(_PAST)
    if moment - now > MAX_DURATION:
        raise OutOfRange(_TOO_FAR)
    return moment


def _parse_iso(text: str) -> datetime.datetime | None:
    if len(text) > _MAX_TEXT:
        return None
    try:
        return datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_expiry(text: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """``never``/empty → None; a duration → now + duration; else an ISO 8601 date or time
    (UTC unless it names a zone). The result lies after ``now``, at most 100 years later."""
    if text is None or text.strip().lower() in ("", "never", "none"):
        return None
    try:
        delta = parse_duration(text)
    except OutOfRange:
        raise
    except ValueError:
        pass
    else:
        if delta.total_seconds() <= 0:
            raise OutOfRange(_PAST)
        return check_expiry(now + delta, now)
    moment = _parse_iso(text)
    if moment is None:
        raise ValueError(
            f"not an expiry: {_show(text)} (use a duration such as 30d, a date "
            "such as 2027-01-31, or never)"
        )
    return check_expiry(moment, now)


def parse_moment(text: str, now: datetime.datetime) -> datetime.datetime:
    """A moment in the past or future: a duration means that long before ``now`` (``1h``,
    ``7d``), else an ISO 8601 date or time (UTC unless it names a zone). Always aware UTC."""
    try:
        return now - parse_duration(text)
    except OutOfRange:
        raise
    except ValueError:
        pass
    moment = _parse_iso(text)
    if moment is None:
        raise ValueError(
            f"not a time: {_show(text)} (use a duration such as 1h or 7d, "
            "or a date such as 2026-11-25)"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 lies before the first datetime in UTC
        raise OutOfRange(f"time out of range: {_show(text)}") from None
