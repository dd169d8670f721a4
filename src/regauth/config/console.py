"""The ``console:`` and ``devices:`` sections: the web console and its sessions, and the
device sign-in (RFC 8628) that gives machines a session of their own."""

from __future__ import annotations

import datetime

from pydantic import Field, model_validator

from regauth.config.base import Duration, Model

__all__ = ["ConsoleConfig", "DevicesConfig"]


class ConsoleConfig(Model):
    #: serve the web console (``/``, ``/login``, ``/console/...``) beside the token endpoint
    enabled: bool = True
    #: a session not used for this long ends
    idle_lifetime: Duration = datetime.timedelta(hours=8)
    #: a session ends this long after sign-in, however much it is used
    absolute_lifetime: Duration = datetime.timedelta(days=7)
    #: console sessions one user may hold at once; the oldest end first
    max_sessions_per_user: int = Field(default=20, ge=1, le=1000)
    #: lifetime of a personal access token made by the "Connect" page
    connect_token_lifetime: Duration = datetime.timedelta(days=30)

    @model_validator(mode="after")
    def _check_lifetimes(self) -> ConsoleConfig:
        if self.idle_lifetime.total_seconds() < 60:
            raise ValueError("idle_lifetime: must be at least 1m")
        if self.absolute_lifetime < self.idle_lifetime:
            raise ValueError("absolute_lifetime: must not be shorter than idle_lifetime")
        if self.absolute_lifetime > datetime.timedelta(days=366):
            raise ValueError("absolute_lifetime: must be at most 366d")
        return self


class DevicesConfig(Model):
    #: offer the device sign-in (``/device/code``, ``/device/token``, the ``/device`` page)
    enabled: bool = True
    #: how long a machine's request may wait for approval
    code_lifetime: Duration = datetime.timedelta(minutes=10)
    #: seconds a machine waits between polls (RFC 8628 ``interval``)
    interval: int = Field(default=5, ge=1, le=60)
    #: a device session not used for this long ends
    idle_lifetime: Duration = datetime.timedelta(days=30)
    #: a device session ends this long after approval
    absolute_lifetime: Duration = datetime.timedelta(days=90)
    #: lifetime of the short personal access tokens a device session hands out
    credential_lifetime: Duration = datetime.timedelta(minutes=15)
    #: requests one address may have waiting at once
    max_pending_per_address: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_lifetimes(self) -> DevicesConfig:
        if not 60 <= self.code_lifetime.total_seconds() <= 3600:
            raise ValueError("code_lifetime: must be between 1m and 1h")
        if self.absolute_lifetime < self.idle_lifetime:
            raise ValueError("absolute_lifetime: must not be shorter than idle_lifetime")
        if not 60 <= self.credential_lifetime.total_seconds() <= 3600:
            raise ValueError("credential_lifetime: must be between 1m and 1h")
        return self
