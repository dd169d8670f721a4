"""Secrets regauth issues: robot secrets, personal access tokens and refresh tokens.

Each is 256 random bits behind a recognisable prefix (so secret scanners and people can tell
what leaked), shown once, and stored only as a SHA-256 hash: they are high-entropy, so a fast
hash is enough and lookups cost one indexed query, never a password hash.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets

__all__ = [
    "PAT_PREFIX",
    "REFRESH_PREFIX",
    "ROBOT_PREFIX",
    "ROBOT_USER_PREFIX",
    "new_secret",
    "parse_expiry",
    "robot_name_of",
    "secret_hash",
]

PAT_PREFIX = "regauth_pat_"
ROBOT_PREFIX = "regauth_robot_"
REFRESH_PREFIX = "regauth_rt_"
#: robots log in as ``robot+NAME`` (as Quay and GitLab deploy tokens use ``+``)
ROBOT_USER_PREFIX = "robot+"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hint(secret: str) -> str:
    """Enough of a secret to recognise it in a listing, not enough to use it."""
    return secret[: min(len(secret), 18)] + "..."


def robot_name_of(username: str) -> str | None:
    if username.startswith(ROBOT_USER_PREFIX):
        return username[len(ROBOT_USER_PREFIX) :]
    return None


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
