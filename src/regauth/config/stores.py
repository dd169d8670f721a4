"""Where users, grants and records live: static ``users:``, ``database:``, ``grants:``,
``refresh_tokens:`` and ``audit:``.

The ``htpasswd:`` key is a plain path on :class:`regauth.config.Config`; external directories
(LDAP) are in :mod:`regauth.config.directory`, single sign-on in :mod:`regauth.config.sso`.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from regauth.config.base import Duration, Model, SecretStr
from regauth.protocol.secret import Secret

__all__ = [
    "PASSWORD_HASH_PREFIXES",
    "AuditConfig",
    "DatabaseConfig",
    "GrantsConfig",
    "RefreshTokensConfig",
    "StaticUser",
]

PASSWORD_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$argon2id$")


class StaticUser(Model):
    secret_fields = ("password",)

    #: a bcrypt hash (as docker_auth and htpasswd -B write them) or an argon2id hash
    password: SecretStr | None = None
    labels: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _listify_labels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("password")
    @classmethod
    def _check_hash(cls, value: Secret | None) -> Secret | None:
        if value is not None and not value.reveal().startswith(PASSWORD_HASH_PREFIXES):
            raise ValueError(
                "must be a bcrypt hash ($2y$...) or an argon2id hash; "
                "make one with `regauth hash-password`"
            )
        return value


class DatabaseConfig(Model):
    secret_fields = ("url",)

    #: sqlite:///path/regauth.db (default: regauth.db in the data folder) or
    #: postgresql://user:password@host/dbname for several instances
    url: SecretStr | None = None
    pool_size: int = Field(default=5, ge=1, le=100)
    #: how often each process looks for changes made by others (seconds)
    sync_interval: float = Field(default=0.5, ge=0.05, le=30)
    #: apply pending migrations at start-up instead of refusing to run
    auto_upgrade: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: Secret | None) -> Secret | None:
        if value is not None and not re.match(
            r"(sqlite|postgres|postgresql)(\+\w+)?://", value.reveal()
        ):
            raise ValueError("expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")
        return value


class GrantsConfig(Model):
    #: every user owns <username>/* (all actions)
    user_namespaces: bool = True
    #: patterns marked public (regauth grant add --public PATTERN) may be pulled anonymously
    anonymous_pull: bool = True


class RefreshTokensConfig(Model):
    enabled: bool = True
    idle_lifetime: Duration = datetime.timedelta(days=14)
    absolute_lifetime: Duration = datetime.timedelta(days=90)
    #: refuse a refresh token presented with another client_id than the one it was issued to
    bind_client: bool = False
    #: active refresh tokens per user; a new one revokes the oldest past this (0: no limit)
    max_per_user: int = Field(default=20, ge=0, le=10_000)

    @model_validator(mode="after")
    def _check_lifetimes(self) -> RefreshTokensConfig:
        if self.idle_lifetime.total_seconds() < 60 or self.absolute_lifetime.total_seconds() < 60:
            raise ValueError("lifetimes must be at least a minute")
        return self


class AuditConfig(Model):
    enabled: bool = True
    retention_days: int = Field(default=90, ge=1, le=3650)
    #: under load, seconds at least between batched writes (an idle server writes at once)
    flush_interval: float = Field(default=0.25, ge=0.01, le=60)
