"""The ``login_failures`` table's keys, and the pruning of counters that no longer matter.

The guessing limits (:mod:`regauth.authn.guessing`) count failed logins here, and the
administrator's ``regauth lockout`` commands and ``/api/v1/lockouts`` routes
(:mod:`regauth.accounts.lockouts`) read and clear the same rows, so both use these keys:

* ``scope`` is :data:`PAIR` (one account from one address), :data:`ACCOUNT` (one account from
  any address; ``address`` is empty) or :data:`ADDRESS` (one address, any account; ``account``
  is empty);
* an account is counted as typed, case-folded (:func:`account_key`), whether or not it exists;
* an address is counted as itself (IPv4), as its /64 (IPv6, the block one host usually holds),
  or as ``unknown`` when the peer gave none (:func:`address_key`).
"""

from __future__ import annotations

import datetime
import ipaddress

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from regauth.store.models import LoginFailure

__all__ = [
    "ACCOUNT",
    "ACCOUNT_LENGTH",
    "ADDRESS",
    "PAIR",
    "account_key",
    "address_key",
    "expire_login_failures",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ACCOUNT_LENGTH = 256
PAIR, ACCOUNT, ADDRESS = "pair", "account", "address"


def address_key(address: IpAddress | None) -> str:
    """What an address is counted as: itself (IPv4), its /64 (IPv6), ``unknown`` (no peer)."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def account_key(account: str) -> str:
    """What an account name is counted as: case-folded, at most 256 characters."""
    return account.casefold()[:ACCOUNT_LENGTH]


def expire_login_failures(
    session: Session, forget_after: datetime.timedelta, now: datetime.datetime
) -> int:
    """Delete the counters nobody has failed on for ``forget_after`` and that block nothing
    now (a count that old starts again anyway); returns how many went."""
    result = session.execute(
        delete(LoginFailure).where(
            LoginFailure.last_failure_at < now - forget_after,
            or_(LoginFailure.blocked_until.is_(None), LoginFailure.blocked_until <= now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
