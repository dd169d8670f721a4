"""The ``oidc:`` section: single sign-on through OpenID providers and GitHub.

Each ``oidc.providers[]`` entry is checked when the configuration loads, as far as that is
possible without the network (:func:`check_provider`), so a bad entry is a configuration error
naming the key, not a failed login later. The presets (GitHub, GitLab, Google) are applied by
:mod:`regauth.oidc.presets`, which builds on this module.
"""

from __future__ import annotations

import datetime
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from regauth.config.base import Duration, Model, SecretStr

__all__ = ["OidcConfig", "OidcProviderConfig", "check_provider", "effective_groups_claim"]


class OidcProviderConfig(Model):
    """An OpenID provider for browser login and, optionally, its access tokens as passwords."""

    secret_fields = ("client_secret",)

    #: short name, used in URLs (/login/NAME) and as the users' source (oidc:NAME)
    name: str
    #: generic OpenID Connect, or a preset
    type: Literal["oidc", "github", "gitlab", "google"] = "oidc"
    #: the issuer; discovery at ISSUER/.well-known/openid-configuration (presets fill it in)
    issuer: str | None = None
    client_id: str
    client_secret: SecretStr
    scopes: list[str] | None = None
    username_claim: str = "preferred_username"
    groups_claim: str | None = "groups"
    #: only members of one of these groups may log in (empty: anyone the provider accepts)
    allowed_groups: list[str] = Field(default_factory=list)
    #: only users whose verified email address is in one of these domains may log in
    #: (e.g. [example.com]; essential for google, where anyone has an account)
    allowed_email_domains: list[str] = Field(default_factory=list)
    #: GitHub preset: require membership of this organisation (and one of these teams)
    github_organization: str | None = None
    github_teams: list[str] = Field(default_factory=list)
    #: lifetime of the personal access token the login page hands out
    token_lifetime: Duration = datetime.timedelta(days=30)
    #: accept this provider's access tokens as the docker password
    accept_access_tokens: bool = False
    #: the audience an access token must carry (JWT); default: client_id
    audience: str | None = None
    #: introspect opaque access tokens (RFC 7662) with client_id/client_secret
    introspection: bool = True
    timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
            raise ValueError("1 to 32 lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s?#]+", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_issuer_needed(self) -> OidcProviderConfig:
        if self.type == "oidc" and self.issuer is None:
            raise ValueError("a generic OpenID provider needs issuer")
        for domain in self.allowed_email_domains:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
                raise ValueError(f"allowed_email_domains: {domain!r} is not a domain name")
        problems = check_provider(self, key="")
        if problems:
            prefix = f"[{self.name}]."
            raise ValueError("; ".join(p.removeprefix(prefix) for p in problems))
        return self


def check_provider(config: OidcProviderConfig, key: str = "oidc.providers") -> list[str]:
    """Problems with one entry that need no network, each as ``KEY.field: what``."""
    where = f"{key}[{config.name}]"
    problems = []
    if not config.client_secret.reveal():
        problems.append(f"{where}.client_secret: must not be empty")
    if not config.client_id:
        problems.append(f"{where}.client_id: must not be empty")
    if not config.username_claim:
        problems.append(f"{where}.username_claim: must not be empty")
    if config.type != "github" and (config.github_organization or config.github_teams):
        problems.append(f"{where}.github_organization: only for type github")
    if config.github_teams and not config.github_organization:
        problems.append(f"{where}.github_teams: needs github_organization")
    if config.accept_access_tokens and config.type == "google":
        problems.append(
            f"{where}.accept_access_tokens: Google's access tokens are opaque and Google offers "
            "no token introspection (RFC 7662), so regauth cannot verify them"
        )
    if config.accept_access_tokens and config.type != "github" and config.audience == "":
        problems.append(f"{where}.audience: must not be empty")
    groups = config.type == "github" or effective_groups_claim(config) is not None
    if config.allowed_groups and not groups:
        problems.append(f"{where}.allowed_groups: needs groups_claim (the provider sends none)")
    if config.scopes is not None and config.type != "github" and "openid" not in config.scopes:
        problems.append(f"{where}.scopes: must include openid")
    if config.token_lifetime.total_seconds() < 60:
        problems.append(f"{where}.token_lifetime: at least a minute")
    return problems


def effective_groups_claim(config: OidcProviderConfig) -> str | None:
    """The claim that carries the user's groups, the preset's default applied."""
    if config.type == "google" and "groups_claim" not in config.model_fields_set:
        return None  # Google's ID tokens carry no groups
    return config.groups_claim


class OidcConfig(Model):
    providers: list[OidcProviderConfig] = Field(default_factory=list)

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, value: list[OidcProviderConfig]) -> list[OidcProviderConfig]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique: {', '.join(duplicates)}")
        return value
