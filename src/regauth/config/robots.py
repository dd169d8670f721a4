"""The ``robots:`` section: how federated robots (keyless CI logins) check ID tokens.

``federated_audience`` is the ``aud`` a CI job's ID token must contain when its robot names no
audience of its own; unset, it is regauth's public base URL (``server.public_url`` plus
``server.path_prefix``). The issuers' discovery documents and key sets are fetched with
``issuer_timeout``, kept ``keys_max_age``, and fetched again for an unknown key ID at most
every ``keys_min_refresh``. ``clock_skew`` is how far in the future a token's ``nbf`` or
``iat`` may lie; ``exp`` gets no leeway.
"""

from __future__ import annotations

import datetime

from pydantic import Field, field_validator

from regauth.config.base import Duration, Model

__all__ = ["RobotsConfig"]


class RobotsConfig(Model):
    #: the audience federated robots' ID tokens must carry; None: regauth's public base URL
    federated_audience: str | None = None
    #: time allowed for one request to an issuer (discovery document, key set)
    issuer_timeout: Duration = datetime.timedelta(seconds=5)
    #: how long an issuer's keys are used before they are fetched again
    keys_max_age: Duration = datetime.timedelta(hours=1)
    #: the shortest time between two fetches for an unknown key ID
    keys_min_refresh: Duration = datetime.timedelta(seconds=30)
    #: how far in the future nbf and iat may lie (clock drift); exp gets no leeway
    clock_skew: Duration = datetime.timedelta(seconds=60)
    #: ID tokens whose verification is remembered (until each one's exp), per process
    max_cached_tokens: int = Field(default=10_000, ge=0, le=1_000_000)

    @field_validator("federated_audience")
    @classmethod
    def _check_audience(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(ord(c) <= 0x20 for c in value)):
            raise ValueError("must be a non-empty text without spaces")
        return value

    @field_validator("issuer_timeout", "keys_min_refresh")
    @classmethod
    def _check_short(cls, value: datetime.timedelta) -> datetime.timedelta:
        if not datetime.timedelta(seconds=0) < value <= datetime.timedelta(minutes=10):
            raise ValueError("must be more than 0 and at most 10m")
        return value

    @field_validator("keys_max_age")
    @classmethod
    def _check_age(cls, value: datetime.timedelta) -> datetime.timedelta:
        if not datetime.timedelta(minutes=1) <= value <= datetime.timedelta(days=7):
            raise ValueError("must be between 1m and 7d")
        return value

    @field_validator("clock_skew")
    @classmethod
    def _check_skew(cls, value: datetime.timedelta) -> datetime.timedelta:
        if not datetime.timedelta(0) <= value <= datetime.timedelta(minutes=10):
            raise ValueError("must be between 0 and 10m")
        return value
