"""Times given to the admin API: ISO 8601 moments and expiries (``expires``, the CLI's
``--expires`` form, or ``expires_at``/``expires_in``).

Every result is an aware UTC :class:`datetime.datetime`; a bad value is an
:class:`regauth.accounts.InvalidInput` (400) that names the field and never echoes more than
forty characters of it.
"""

from __future__ import annotations

import datetime

from regauth.accounts import InvalidInput
from regauth.durations import check_expiry, parse_duration, parse_expiry

__all__ = ["expiry", "parse_time"]


def _utc(moment: datetime.datetime, what: str) -> datetime.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise InvalidInput(f"{what}: out of range") from None


def parse_time(text: str, what: str) -> datetime.datetime:
    """An ISO 8601 date or time; without a zone it is UTC. ``what`` names the field."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{what}: not an ISO 8601 date or time: {text[:40]!r} (e.g. 2027-01-31T12:00:00Z)"
        ) from None
    return _utc(moment, what)


def expiry(
    expires_at: str | None,
    expires_in: str | None,
    now: datetime.datetime,
    expires: str | None = None,
) -> datetime.datetime | None:
    """The expiry a body asks for, or None: ``expires`` as the CLI's ``--expires`` takes it
    (``30d``, ``2027-01-31``, ``never``), a moment, or a duration from ``now``; one of them."""
    given = [
        name
        for name, value in (
            ("expires", expires),
            ("expires_at", expires_at),
            ("expires_in", expires_in),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidInput(
            f"give one of expires, expires_at or expires_in, not {' and '.join(given)}"
        )
    try:
        if expires is not None:
            return parse_expiry(expires, now)
        if expires_at is not None:
            return check_expiry(parse_time(expires_at, "body.expires_at"), now)
        if expires_in is None:
            return None
        return check_expiry(now + parse_duration(expires_in), now)
    except ValueError as exc:
        raise InvalidInput(f"body.{given[0]}: {exc}") from None
