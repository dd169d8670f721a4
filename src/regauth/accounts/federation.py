"""What a federated robot trusts: an OIDC issuer, an audience, and claim conditions.

A federated robot (``regauth robot create ci --federated https://token.actions.githubusercontent.com
--claim repository=acme/api``) has no secret: it logs in with an ID token from its issuer whose
claims meet every condition. Conditions are ``KEY=VALUE`` pairs:

* different keys must all hold (``repository=acme/api`` and ``ref=refs/heads/main``);
* the same key given several times holds when any of its values matches
  (``ref=refs/heads/main`` or ``ref=refs/tags/v*``);
* a value may contain ``*``, which matches any run of characters (``refs/tags/v*``); nothing
  else is special. A claim that is a list matches when one of its items does.

At least one condition is required: an issuer such as GitHub's signs tokens for every
repository on GitHub, so a robot that trusted the issuer alone would trust everyone.
:func:`check_federation` enforces the rules and returns the normalised :class:`Federation`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from regauth.accounts.errors import InvalidInput

__all__ = [
    "MAX_CONDITIONS",
    "Federation",
    "check_federation",
    "parse_claim_conditions",
]

MAX_CONDITIONS = 20
MAX_ISSUER = 500
MAX_VALUE = 255
_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
#: the registered claims regauth checks itself: a condition on them would mislead
_RESERVED = frozenset({"iss", "aud", "exp", "nbf", "iat"})
_URL = re.compile(r"https?://[^\s?#]+")


@dataclass(frozen=True)
class Federation:
    issuer: str
    #: None: the configured default (``robots.federated_audience``)
    audience: str | None
    #: claim name -> accepted values (``*`` globs), names sorted
    claims: Mapping[str, tuple[str, ...]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "claims": {name: list(values) for name, values in self.claims.items()},
        }


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_issuer(issuer: str) -> str:
    issuer = issuer.rstrip("/")
    if len(issuer) > MAX_ISSUER or not _URL.fullmatch(issuer):
        raise InvalidInput(
            f"invalid issuer {issuer[:80]!r}: an https:// URL without query or fragment"
        )
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"invalid issuer {issuer[:80]!r}: not a URL") from None
    if parts.scheme != "https" and not _loopback(host):
        raise InvalidInput(
            f"invalid issuer {issuer[:80]!r}: must be https:// (http only on a loopback address)"
        )
    return issuer


def _check_audience(audience: str | None) -> str | None:
    if audience is None:
        return None
    if not audience or len(audience) > MAX_ISSUER or any(ord(c) <= 0x20 for c in audience):
        raise InvalidInput(
            f"invalid audience {audience[:80]!r}: 1 to {MAX_ISSUER} characters, no spaces"
        )
    return audience


def _check_value(name: str, value: str) -> str:
    if not value or len(value) > MAX_VALUE or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise InvalidInput(
            f"invalid value for claim {name!r}: 1 to {MAX_VALUE} printable characters"
        )
    if value.strip("*") == "":
        raise InvalidInput(f"claim {name!r}: a value of only '*' would accept any token")
    return value


def check_federation(
    issuer: str, audience: str | None, claims: Mapping[str, Iterable[str]]
) -> Federation:
    checked: dict[str, tuple[str, ...]] = {}
    count = 0
    for name, values in claims.items():
        if not _CLAIM_NAME.fullmatch(name):
            raise InvalidInput(
                f"invalid claim name {name[:80]!r}: 1 to 64 letters, digits, '_', '.', ':' or "
                "'-', starting with a letter or '_'"
            )
        if name in _RESERVED:
            raise InvalidInput(
                f"claim {name!r} cannot be a condition: regauth checks it itself "
                "(use --audience for the audience)"
            )
        accepted = tuple(dict.fromkeys(_check_value(name, v) for v in values))
        if not accepted:
            raise InvalidInput(f"claim {name!r} has no value")
        count += len(accepted)
        checked[name] = accepted
    if not checked:
        raise InvalidInput(
            "a federated robot needs at least one claim condition (e.g. repository=acme/api): "
            "the issuer alone signs tokens for everyone it serves"
        )
    if count > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} claim conditions")
    return Federation(
        _check_issuer(issuer), _check_audience(audience), dict(sorted(checked.items()))
    )


def parse_claim_conditions(pairs: Iterable[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` strings (the CLI's ``--claim``) as claim name -> values."""
    claims: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"expected KEY=VALUE for a claim condition, got {pair[:80]!r}")
        claims.setdefault(name, []).append(value)
    return claims
