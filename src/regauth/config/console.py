"""The ``console:`` section: the web console's switch and its sign-in sessions' lifetimes."""

from __future__ import annotations

import datetime

from pydantic import Field, model_validator

from regauth.config.base import Duration, Model

__all__ = ["ConsoleConfig"]


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
