"""The administrator's side of the guessing limits: see who is blocked, and lift it.

The limits themselves (:mod:`regauth.authn.guessing`) count failed logins in the
``login_failures`` table, shared by every worker and instance; this module reads and deletes
the same rows (:mod:`regauth.store.login_failures` says what their keys are), so a block lifted
here is lifted everywhere at the next login attempt: nothing about a block is kept in memory.

A target to clear is an account name (any case: accounts are counted case-folded) or an
address: an IPv4 address, or an IPv6 address or its /64 (IPv6 clients are counted per /64).
Clearing an account removes its lockout and its counts from every address; clearing an address
removes its count and those of every account from it. Clearing what has no counter is not an
error (``cleared`` is 0): a script may clear twice.
"""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import delete, func, select

from regauth.accounts.errors import InvalidInput
from regauth.accounts.store_access import StoreAccess
from regauth.accounts.views import LockoutsCleared, LockoutView
from regauth.store.login_failures import (
    ACCOUNT,
    ACCOUNT_LENGTH,
    ADDRESS,
    PAIR,
    account_key,
    address_key,
)
from regauth.store.models import LoginFailure

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Lockouts", "parse_target"]

#: counters listed at most, by default and at all (an attacker can make many)
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
#: the kinds of counter, as the configuration's ``brute_force:`` sections name them
KINDS = {PAIR: "account_address", ACCOUNT: "account", ADDRESS: "address"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: what can only have been meant as an IP network
#: (the lookbehind keeps a search linear: a run of such characters is tried from its start only)
_NETWORK = re.compile(r"(?<![0-9A-Fa-f:.])[0-9A-Fa-f:.]+/[0-9]+")


def parse_target(text: str) -> tuple[str, str]:
    """``("account", key)`` or ``("address", key)`` for what ``regauth lockout clear`` was
    given; InvalidInput for something that is neither."""
    if not text.strip(" \t\r\n\x0b\x0c"):
        raise InvalidInput("give an account name or an IP address")
    if _CONTROL.search(text):
        raise InvalidInput("an account name or address has no control characters")
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return "address", address_key(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if _NETWORK.fullmatch(bare):
        try:
            network = ipaddress.ip_network(bare, strict=False)
        except ValueError:
            raise InvalidInput(f"not an IP address or network: {text[:64]!r}") from None
        if network.num_addresses == 1:
            return "address", address_key(network.network_address)
        if network.version == 6 and network.prefixlen == 64:
            return "address", str(network)
        raise InvalidInput(
            f"{network} is a network: addresses are counted one by one (IPv4) or per /64 "
            "(IPv6); give one address or an IPv6 /64"
        )
    if len(text) > ACCOUNT_LENGTH:
        raise InvalidInput(f"an account name has at most {ACCOUNT_LENGTH} characters")
    return "account", account_key(text)


class Lockouts(StoreAccess):
    def list_lockouts(
        self, *, include_all: bool = False, limit: int = DEFAULT_LIMIT
    ) -> list[LockoutView]:
        """The counters that block logins now, newest failure first; with ``include_all``,
        also those that only count (below their threshold, or whose block has ended)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}")
        now = self._clock()
        query = select(LoginFailure).order_by(
            LoginFailure.last_failure_at.desc(), LoginFailure.id.desc()
        )
        if not include_all:
            query = query.where(LoginFailure.blocked_until > now)
        with self._db.read() as session:
            return [
                LockoutView(
                    kind=KINDS.get(row.scope, row.scope),
                    account=row.account or None,
                    address=row.address or None,
                    failures=row.failures,
                    blocked=row.blocked_until is not None and row.blocked_until > now,
                    blocked_until=row.blocked_until,
                    first_failure_at=row.first_failure_at,
                    last_failure_at=row.last_failure_at,
                )
                for row in session.scalars(query.limit(limit))
            ]

    def clear_lockouts(self, target: str) -> LockoutsCleared:
        """Lift every block and count of an account or an address (see the module)."""
        kind, key = parse_target(target)
        column = LoginFailure.account if kind == "account" else LoginFailure.address
        now = self._clock()
        with self._db.write() as session:
            blocking = session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(column == key, LoginFailure.blocked_until > now)
            )
            result = session.execute(delete(LoginFailure).where(column == key))
            cleared = int(getattr(result, "rowcount", 0) or 0)
        return LockoutsCleared(kind, key, cleared, min(int(blocking or 0), cleared))
