"""From a provider's claims to a regauth user: name, email, groups, and who may log in.

Pure functions over the claims of a verified ID token, access token, introspection or
UserInfo response (or GitHub's user object), shared by the login pages and the access-token
authenticator so both decide the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from regauth.accounts import InvalidInput, check_email, check_group_name, check_username
from regauth.oidc.errors import IdentityRejected
from regauth.oidc.presets import ProviderSettings

__all__ = ["ExternalIdentity", "claim", "map_identity", "require_allowed_groups"]

log = structlog.get_logger("regauth.oidc")
MAX_GROUPS = 500


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A user as a provider vouches for them, already checked against regauth's rules."""

    username: str
    email: str | None
    groups: tuple[str, ...]
    #: the provider's stable subject identifier (``sub``, GitHub's numeric id)
    subject: str


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """``name`` itself, or a dotted path into nested objects (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _groups(value: Any, provider: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        log.warning("groups claim is not a list: ignored", provider=provider)
        return ()
    groups: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        try:
            groups.append(check_group_name(item))
        except InvalidInput:
            log.warning("group name not usable in regauth: ignored", provider=provider)
    return tuple(sorted(set(groups)))[:MAX_GROUPS]


def require_allowed_groups(settings: ProviderSettings, groups: Iterable[str]) -> None:
    if settings.allowed_groups and not settings.allowed_groups.intersection(groups):
        raise IdentityRejected(
            f"{settings.name}: the user is in none of the allowed groups "
            f"({', '.join(sorted(settings.allowed_groups))})"
        )


def map_identity(
    settings: ProviderSettings,
    claims: Mapping[str, Any],
    *,
    username_claim: str | None = None,
    groups: Iterable[str] | None = None,
) -> ExternalIdentity:
    """Read user name, email and groups from ``claims`` and apply ``allowed_groups``.

    ``groups`` (GitHub's teams) replaces the groups claim when given.
    """
    name_claim = username_claim or settings.username_claim
    raw = claim(claims, name_claim)
    if not isinstance(raw, str) or not raw:
        raise IdentityRejected(f"{settings.name}: the provider sent no {name_claim!r} claim")
    verified = claims.get("email_verified")
    if name_claim == "email" and verified is not True:
        raise IdentityRejected(
            f"{settings.name}: the email address is not verified by the provider"
        )
    try:
        username = check_username(raw)
    except InvalidInput:
        raise IdentityRejected(
            f"{settings.name}: the {name_claim!r} claim {raw[:80]!r} is not a valid regauth "
            "user name (letters, digits, '.', '_', '@', '-')"
        ) from None
    email = claims.get("email")
    try:
        email = check_email(email) if isinstance(email, str) and verified is not False else None
    except InvalidInput:
        email = None
    if groups is None:
        found = (
            _groups(claim(claims, settings.groups_claim), settings.name)
            if settings.groups_claim
            else ()
        )
    else:
        found = _groups(list(groups), settings.name)
    require_allowed_groups(settings, found)
    if settings.allowed_email_domains:
        domain = email.rpartition("@")[2].lower() if email else None
        if verified is not True and settings.protocol != "github":
            domain = None  # an unverified address proves nothing
        if domain not in settings.allowed_email_domains:
            raise IdentityRejected(
                f"{settings.name}: only verified email addresses in "
                f"{', '.join(sorted(settings.allowed_email_domains))} may log in"
            )
    subject = claims.get("sub", claims.get("id", ""))
    return ExternalIdentity(username, email, found, str(subject))
