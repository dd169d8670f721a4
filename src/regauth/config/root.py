"""The whole configuration document: its sections, and the checks on the static users."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from regauth.config.acl import AclRule
from regauth.config.base import Model
from regauth.config.console import ConsoleConfig, DevicesConfig
from regauth.config.directory import LdapConfig
from regauth.config.limits import BruteForceConfig
from regauth.config.operation import CredentialCacheConfig, LogConfig, MetricsConfig
from regauth.config.registry import EventsConfig, RegistryConfig
from regauth.config.robots import RobotsConfig
from regauth.config.server import ServerConfig, TokenConfig
from regauth.config.sso import OidcConfig
from regauth.config.stores import (
    AuditConfig,
    DatabaseConfig,
    GrantsConfig,
    RefreshTokensConfig,
    StaticUser,
)

__all__ = ["Config"]


class Config(Model):
    server: ServerConfig = Field(default_factory=ServerConfig)
    token: TokenConfig = Field(default_factory=TokenConfig)
    #: static users in docker_auth's syntax; "" is the anonymous account
    users: dict[str, StaticUser] = Field(default_factory=dict)
    #: an Apache htpasswd file with bcrypt entries, re-read when it changes
    htpasswd: Path | None = None
    acl: list[AclRule] = Field(default_factory=list)
    credential_cache: CredentialCacheConfig = Field(default_factory=CredentialCacheConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    grants: GrantsConfig = Field(default_factory=GrantsConfig)
    refresh_tokens: RefreshTokensConfig = Field(default_factory=RefreshTokensConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    ldap: LdapConfig | None = None
    oidc: OidcConfig = Field(default_factory=OidcConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    brute_force: BruteForceConfig = Field(default_factory=BruteForceConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    robots: RobotsConfig = Field(default_factory=RobotsConfig)

    @field_validator("users")
    @classmethod
    def _check_users(cls, value: dict[str, StaticUser]) -> dict[str, StaticUser]:
        for name, user in value.items():
            if name == "":
                if user.password is not None:
                    raise ValueError('the anonymous account "" cannot have a password')
            elif user.password is None:
                raise ValueError(
                    f"{name}.password: required (a user without a password would accept any "
                    "password in docker_auth; regauth refuses that)"
                )
        return value
