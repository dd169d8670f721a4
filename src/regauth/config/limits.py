"""Limits that keep regauth standing on the open internet: ``brute_force:``.

Request-size and timing limits live in ``server:`` (:mod:`regauth.config.server`), beside the
listen address they protect.
"""

from __future__ import annotations

import datetime

from pydantic import Field, model_validator

from regauth.config.base import Duration, Model

__all__ = ["AccountLockoutConfig", "BruteForceConfig", "DelayConfig"]


class DelayConfig(Model):
    #: failures allowed before delays start
    free_failures: int = Field(default=5, ge=1, le=100_000)
    #: the first delay; each further failure doubles it
    delay: Duration = datetime.timedelta(seconds=1)
    max_delay: Duration = datetime.timedelta(minutes=15)

    @model_validator(mode="after")
    def _check_delays(self) -> DelayConfig:
        if self.delay.total_seconds() <= 0:
            raise ValueError("delay: must be more than 0 seconds")
        if self.max_delay < self.delay:
            raise ValueError("max_delay: must not be shorter than delay")
        if self.max_delay.total_seconds() > 7 * 86400:
            raise ValueError("max_delay: at most 7 days")
        return self


class AccountLockoutConfig(Model):
    #: failures from any addresses that lock the account
    lockout_after: int = Field(default=50, ge=1, le=1_000_000)
    lockout_duration: Duration = datetime.timedelta(minutes=15)

    @model_validator(mode="after")
    def _check_duration(self) -> AccountLockoutConfig:
        seconds = self.lockout_duration.total_seconds()
        if not 1 <= seconds <= 30 * 86400:
            raise ValueError("lockout_duration: between 1 second and 30 days")
        return self


class BruteForceConfig(Model):
    """Guessing limits on every path that checks a password (see regauth.authn.guessing)."""

    enabled: bool = True
    #: one account from one address
    account_address: DelayConfig = Field(default_factory=DelayConfig)
    #: one address, any accounts (password spraying)
    address: DelayConfig = Field(default_factory=lambda: DelayConfig(free_failures=30))
    #: one account, any addresses: a temporary lockout an administrator can lift
    account: AccountLockoutConfig = Field(default_factory=AccountLockoutConfig)
    #: a count with no failure for this long starts again
    forget_after: Duration = datetime.timedelta(hours=24)

    @model_validator(mode="after")
    def _check_forget(self) -> BruteForceConfig:
        if self.forget_after.total_seconds() < 60:
            raise ValueError("forget_after: at least a minute")
        return self
