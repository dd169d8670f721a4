"""Durations and expiry times as people type them: ``30d``, ``12h``, ``2027-01-31``, ``never``.

One parser for the CLI, the admin API and the console, so the same text means the same
everywhere.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["parse_duration", "parse_expiry"]

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> datetime.timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` or plain seconds."""
    text = text.strip().lower()
    if text.isdigit():
        return datetime.timedelta(seconds=int(text))
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 12h, 90m)")
    return datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_expiry(text: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """``never``/empty → None; a duration → now + duration; else an ISO 8601 date or time."""
    if text is None or text.strip().lower() in ("", "never", "none"):
        return None
    try:
        delta = parse_duration(text)
    except ValueError:
        pass
    else:
        if delta.total_seconds() <= 0:
            raise ValueError("the expiry must be in the future")
        return now + delta
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not an expiry: {text!r} (use a duration such as 30d, a date such as "
            "2027-01-31, or never)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    if moment <= now:
        raise ValueError("the expiry must be in the future")
    return moment
