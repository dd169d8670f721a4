"""Guessing limits: failed logins slow, then stop, further guesses, on every worker and instance.

Three counters, kept in the ``login_failures`` table so every worker of every instance sees
the same numbers:

* **pair** (one account from one address): after ``free_failures`` failures each further one
  blocks that pair for a delay that doubles per failure, up to ``max_delay``;
* **address** (any account from one address; password spraying): the same, with its own,
  higher figures;
* **account** (one account from any address): after ``lockout_after`` failures the account
  is locked for ``lockout_duration`` (an administrator can lift it), and every further
  failure locks it again.

A blocked attempt is refused before any password is checked (:class:`Throttled`, a 429 with
``Retry-After``); it does not count as a failure. A success resets its pair. A count with no
failure for ``forget_after`` starts again. Names are counted as typed (case-folded), whether
or not such an account exists, so a locked account and an unknown name answer alike.

High-entropy secrets (personal access tokens, robot secrets, refresh tokens, JWTs) cannot be
guessed: they never count against an account, only against the address that sent them.
IPv6 clients are counted per /64, the block a single host usually holds.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from regauth.clock import Clock, utcnow
from regauth.protocol.errors import TooManyRequests
from regauth.store.database import CHANGED, Database
from regauth.store.login_failures import (
    ACCOUNT,
    ADDRESS,
    PAIR,
    IpAddress,
    account_key,
    address_key,
    expire_login_failures,
)
from regauth.store.models import ChangeLog, LoginFailure

__all__ = [
    "AccountLockout",
    "DelayPolicy",
    "GuessingLimiter",
    "GuessingLimits",
    "IpAddress",
    "LimitState",
    "Throttled",
    "address_key",
]

log = structlog.get_logger("regauth.guessing")

#: the change-log kind that tells every worker an account was locked (drop its cached logins)
LOCKOUT_CHANGE = "lockout"


@dataclass(frozen=True, slots=True)
class DelayPolicy:
    """Free failures, then a delay that doubles per failure up to a ceiling (seconds)."""

    free_failures: int = 5
    delay: float = 1.0
    max_delay: float = 900.0

    def block_for(self, failures: int) -> float:
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.delay * 2.0 ** min(over - 1, 60))


@dataclass(frozen=True, slots=True)
class AccountLockout:
    lockout_after: int = 50
    lockout_duration: float = 900.0

    def block_for(self, failures: int) -> float:
        return self.lockout_duration if failures >= self.lockout_after else 0.0


@dataclass(frozen=True, slots=True)
class GuessingLimits:
    enabled: bool = True
    account_address: DelayPolicy = field(default_factory=DelayPolicy)
    address: DelayPolicy = field(default_factory=lambda: DelayPolicy(30, 1.0, 900.0))
    account: AccountLockout = field(default_factory=AccountLockout)
    forget_after: float = 86400.0


class Throttled(TooManyRequests):
    """Refused without a password check: too many failures lately (429, ``Retry-After``)."""

    def __init__(self, retry_after: int, *, log_reason: str) -> None:
        super().__init__(
            "too many failed logins: try again later",
            log_reason=log_reason,
            retry_after=retry_after,
        )


@dataclass(frozen=True, slots=True)
class LimitState:
    """What :meth:`GuessingLimiter.check` found (so a success knows whether to reset)."""

    account: str
    address: str
    high_entropy: bool
    pair_failures: int = 0


@dataclass(frozen=True, slots=True)
class _Row:
    scope: str
    failures: int
    last_failure_at: datetime.datetime
    blocked_until: datetime.datetime | None


def _retry_after(until: datetime.datetime, now: datetime.datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


class GuessingLimiter:
    """Consulted by the authenticator chain around every password check it makes."""

    def __init__(
        self,
        database: Database,
        limits: GuessingLimits,
        *,
        clock: Clock = utcnow,
        on_lockout: Callable[[str], None] | None = None,
    ) -> None:
        self._db = database
        self._limits = limits
        self._clock = clock
        #: told the account name whenever an account lockout starts (log, metrics)
        self.on_lockout = on_lockout

    @property
    def limits(self) -> GuessingLimits:
        return self._limits

    # ------------------------------------------------------------------ the request path

    async def check(
        self, account: str, address: IpAddress | None, *, high_entropy: bool
    ) -> LimitState:
        """Raise :class:`Throttled` when a counter blocks this attempt now."""
        state = LimitState(account_key(account), address_key(address), high_entropy)
        if not self._limits.enabled:
            return state
        rows = await self._db.run(self._read, state)
        now = self._clock()
        blocking = [(r.blocked_until, r) for r in rows if r.blocked_until and r.blocked_until > now]
        if blocking:
            until, row = max(blocking, key=lambda pair: pair[0])
            raise Throttled(
                _retry_after(until, now),
                log_reason=f"guessing limit ({_describe(row.scope)}): {row.failures} failed logins",
            )
        forget = datetime.timedelta(seconds=self._limits.forget_after)
        pair = next((r for r in rows if r.scope == PAIR and r.last_failure_at + forget > now), None)
        if pair is not None:
            return LimitState(state.account, state.address, high_entropy, pair.failures)
        return state

    async def failed(self, state: LimitState) -> None:
        """Count a failed login (wrong password, unknown name, invalid token)."""
        if not self._limits.enabled:
            return
        locked = await self._db.run(self._record_failure, state)
        if locked:
            log.warning(
                "account locked by the guessing limits",
                account=state.account,
                client_ip=state.address,
                minutes=round(self._limits.account.lockout_duration / 60, 1),
            )
            if self.on_lockout is not None:
                self.on_lockout(state.account)

    async def succeeded(self, state: LimitState) -> None:
        """A success resets its (account, address) count; nothing is written otherwise."""
        if self._limits.enabled and state.pair_failures > 0 and not state.high_entropy:
            await self._db.run(self._reset_pair, state)

    # ------------------------------------------------------------------ storage

    @staticmethod
    def _keys(state: LimitState) -> list[tuple[str, str, str]]:
        keys = [(ADDRESS, "", state.address)]
        if not state.high_entropy:
            keys += [(PAIR, state.account, state.address), (ACCOUNT, state.account, "")]
        return keys

    def _read(self, state: LimitState) -> list[_Row]:
        conditions = [
            and_(
                LoginFailure.scope == scope,
                LoginFailure.account == account,
                LoginFailure.address == address,
            )
            for scope, account, address in self._keys(state)
        ]
        with self._db.read() as session:
            rows = session.execute(
                select(
                    LoginFailure.scope,
                    LoginFailure.failures,
                    LoginFailure.last_failure_at,
                    LoginFailure.blocked_until,
                ).where(or_(*conditions))
            )
            return [_Row(*row) for row in rows]

    def _record_failure(self, state: LimitState) -> bool:
        """Count the failure in every counter it belongs to; True when this failure started
        an account lockout."""
        now = self._clock()
        limits = self._limits
        forgotten = now - datetime.timedelta(seconds=limits.forget_after)
        policies: dict[str, DelayPolicy | AccountLockout] = {
            PAIR: limits.account_address,
            ADDRESS: limits.address,
            ACCOUNT: limits.account,
        }
        locked = False
        with self._db.write() as session:
            for scope, account, address in self._keys(state):
                failures, was_blocked = self._count(
                    session, scope, account, address, now, forgotten
                )
                seconds = policies[scope].block_for(failures)
                if seconds > 0:
                    until = now + datetime.timedelta(seconds=seconds)
                    session.execute(
                        update(LoginFailure)
                        .where(
                            LoginFailure.scope == scope,
                            LoginFailure.account == account,
                            LoginFailure.address == address,
                        )
                        .values(blocked_until=until)
                    )
                    if scope == ACCOUNT and not was_blocked:
                        locked = True
                        # every worker drops this account's cached logins on its next request
                        session.add(ChangeLog(kind=LOCKOUT_CHANGE, subject=account, at=now))
                        session.info[CHANGED] = True
        return locked

    def _count(
        self,
        session: Session,
        scope: str,
        account: str,
        address: str,
        now: datetime.datetime,
        forgotten: datetime.datetime,
    ) -> tuple[int, bool]:
        """Add one failure (starting again after ``forget_after``); the new count, and
        whether the counter was blocked before."""
        insert = (
            postgresql.insert(LoginFailure)
            if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(LoginFailure)
        )
        fresh = LoginFailure.last_failure_at < forgotten
        statement = (
            insert.values(
                scope=scope,
                account=account,
                address=address,
                failures=1,
                first_failure_at=now,
                last_failure_at=now,
                blocked_until=None,
            )
            .on_conflict_do_update(
                index_elements=["scope", "account", "address"],
                set_={
                    "failures": _case(fresh, 1, LoginFailure.failures + 1),
                    "first_failure_at": _case(fresh, now, LoginFailure.first_failure_at),
                    "last_failure_at": now,
                    "blocked_until": _case(fresh, None, LoginFailure.blocked_until),
                },
            )
            .returning(LoginFailure.failures, LoginFailure.blocked_until)
        )
        failures, blocked_until = session.execute(statement).one()
        return int(failures), blocked_until is not None and blocked_until > now

    def _reset_pair(self, state: LimitState) -> None:
        with self._db.write() as session:
            session.execute(
                delete(LoginFailure).where(
                    LoginFailure.scope == PAIR,
                    LoginFailure.account == state.account,
                    LoginFailure.address == state.address,
                )
            )


def _case(condition: object, then: object, otherwise: object) -> object:
    from sqlalchemy import case

    return case((condition, then), else_=otherwise)  # type: ignore[arg-type]


def _describe(scope: str) -> str:
    return {PAIR: "account from this address", ADDRESS: "address", ACCOUNT: "account locked"}[scope]


def expire_old(database: Database, forget_after: float, now: datetime.datetime) -> int:
    """Delete counters nobody has failed on for ``forget_after`` and that block nothing (the
    background writer does this once an hour)."""
    with database.write() as session:
        return expire_login_failures(session, datetime.timedelta(seconds=forget_after), now)
