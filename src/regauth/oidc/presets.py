"""Provider presets: turn an ``oidc.providers[]`` entry into complete, checked settings.

* ``oidc``: any OpenID Connect provider; ``issuer`` is required, everything else is found by
  discovery (``ISSUER/.well-known/openid-configuration``).
* ``gitlab``: OpenID Connect, issuer ``https://gitlab.com`` unless given (self-managed GitLab:
  its URL). Groups come from the ``groups`` claim (UserInfo).
* ``google``: OpenID Connect, issuer ``https://accounts.google.com``; the user name defaults
  to the ``email`` claim (accepted only when ``email_verified``), no groups.
* ``github``: OAuth 2.0, not OpenID Connect (no discovery, no ID token). ``issuer`` is the
  GitHub web URL, ``https://github.com`` unless given (GitHub Enterprise Server: its URL; the
  API is then ``URL/api/v3``). The user is ``GET /user``; groups are the user's teams as
  ``ORG/TEAM-SLUG``; ``github_organization`` (and ``github_teams``) restrict who may log in.

Everything checkable without the network is checked when the configuration loads, by
:func:`regauth.config.sso.check_provider` (re-exported here), so a bad entry is a configuration
error naming the key, not a failed login later; :func:`resolve_provider` runs them again.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from regauth.config import OidcProviderConfig
from regauth.config.sso import check_provider, effective_groups_claim
from regauth.protocol.secret import Secret

__all__ = [
    "GITHUB_API",
    "GITHUB_WEB",
    "ProviderConfigError",
    "ProviderSettings",
    "check_provider",
    "resolve_provider",
]

GITHUB_WEB = "https://github.com"
GITHUB_API = "https://api.github.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"

_DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    "oidc": ("openid", "profile", "email"),
    "gitlab": ("openid", "profile", "email"),
    "google": ("openid", "profile", "email"),
    "github": ("read:user", "user:email", "read:org"),
}


class ProviderConfigError(ValueError):
    """An ``oidc.providers[]`` entry that cannot work; one line per problem, naming the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One provider, presets applied. ``issuer`` has no trailing slash."""

    name: str
    #: the protocol spoken: OpenID Connect with discovery, or GitHub's OAuth 2.0 and REST API
    protocol: Literal["oidc", "github"]
    #: the configured preset (oidc, gitlab, google, github)
    preset: str
    issuer: str
    client_id: str
    client_secret: Secret
    scopes: tuple[str, ...]
    username_claim: str
    groups_claim: str | None
    allowed_groups: frozenset[str]
    allowed_email_domains: frozenset[str]
    github_organization: str | None
    github_teams: frozenset[str]
    token_lifetime: datetime.timedelta
    accept_access_tokens: bool
    #: the audience a JWT access token must carry: ``audience``, else the client_id
    audience: str
    introspection: bool
    timeout: float
    #: only for the github protocol
    github_api: str | None = None

    @property
    def source(self) -> str:
        """The ``source`` of the users and groups this provider creates."""
        return f"oidc:{self.name}"

    @property
    def display_name(self) -> str:
        return {"github": "GitHub", "gitlab": "GitLab", "google": "Google"}.get(
            self.preset, self.name
        )


def _username_claim(config: OidcProviderConfig) -> str:
    if "username_claim" in config.model_fields_set:
        return config.username_claim
    return {"google": "email", "github": "login"}.get(config.type, config.username_claim)


def resolve_provider(config: OidcProviderConfig) -> ProviderSettings:
    """Apply the preset; raise :class:`ProviderConfigError` when the entry cannot work."""
    problems = check_provider(config)
    if problems:
        raise ProviderConfigError(problems)
    protocol: Literal["oidc", "github"] = "github" if config.type == "github" else "oidc"
    issuer = config.issuer
    github_api = None
    if config.type == "github":
        issuer = issuer or GITHUB_WEB
        github_api = GITHUB_API if issuer == GITHUB_WEB else issuer + "/api/v3"
    elif config.type == "gitlab":
        issuer = issuer or GITLAB_ISSUER
    elif config.type == "google":
        issuer = issuer or GOOGLE_ISSUER
    if issuer is None:  # the configuration already requires it for type oidc
        raise ProviderConfigError([f"oidc.providers[{config.name}].issuer: required"])
    return ProviderSettings(
        name=config.name,
        protocol=protocol,
        preset=config.type,
        issuer=issuer.rstrip("/"),
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=tuple(config.scopes) if config.scopes is not None else _DEFAULT_SCOPES[config.type],
        username_claim=_username_claim(config),
        groups_claim=effective_groups_claim(config),
        allowed_groups=frozenset(config.allowed_groups),
        allowed_email_domains=frozenset(d.lower() for d in config.allowed_email_domains),
        github_organization=config.github_organization,
        github_teams=frozenset(config.github_teams),
        token_lifetime=config.token_lifetime,
        accept_access_tokens=config.accept_access_tokens,
        audience=config.audience or config.client_id,
        introspection=config.introspection,
        timeout=config.timeout,
        github_api=github_api,
    )
