"""The claims of a CI system's ID token against a federated robot's rule (pure; no I/O).

After the signature (:mod:`regauth.oidc.issuer_keys`), :func:`check_claims` checks, in order:

* ``iss`` is exactly the robot's issuer (a trailing ``/`` aside);
* ``aud`` (a string or a list) contains the robot's audience;
* ``exp`` is present and in the future: **no leeway**, so a token is never accepted once its
  issuer says it expired; ``nbf`` and ``iat``, when present, are not further in the future
  than ``leeway`` seconds (clocks drift);
* every claim condition holds (:func:`glob_match`; see :mod:`regauth.accounts.federation`).

Each failure raises :class:`~regauth.oidc.errors.TokenRejected` with a sentence for the log
that names the check (never the token). :func:`identifying_claims` picks what the audit trail
keeps of an accepted token: who issued it, for what (``sub``), which run (``jti``, run ids)
and the claims the conditions named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regauth.oidc.errors import TokenRejected

__all__ = [
    "IDENTIFYING",
    "FederationRule",
    "check_claims",
    "claim_text",
    "glob_match",
    "identifying_claims",
]

#: claims kept in the audit trail when present: standard, GitHub Actions, GitLab CI
IDENTIFYING = (
    "iss",
    "sub",
    "jti",
    "repository",
    "ref",
    "sha",
    "workflow",
    "run_id",
    "run_attempt",
    "actor",
    "environment",
    "project_path",
    "pipeline_id",
    "job_id",
    "ref_protected",
    "user_login",
)
_MAX_TEXT = 120


@dataclass(frozen=True, slots=True)
class FederationRule:
    issuer: str
    audience: str
    #: claim name -> accepted values (globs)
    conditions: Mapping[str, tuple[str, ...]]


def glob_match(pattern: str, value: str) -> bool:
    """``*`` matches any run of characters (also none), everything else itself. Greedy with
    one backtracking point, so at most len(pattern) * len(value) steps, never exponential."""
    p = v = 0
    star = -1
    resume = 0
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, v
            p += 1
        elif p < len(pattern) and pattern[p] == value[v]:
            p += 1
            v += 1
        elif star >= 0:
            p = star + 1
            resume += 1
            v = resume
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def claim_text(value: Any) -> str | None:
    """A claim as the text a condition is compared with: strings as they are, true/false,
    integers; None for anything else (objects, floats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _condition_holds(value: Any, accepted: tuple[str, ...]) -> bool:
    items = value if isinstance(value, list) else [value]
    for item in items:
        text = claim_text(item)
        if text is not None and any(glob_match(pattern, text) for pattern in accepted):
            return True
    return False


def _shown(value: Any) -> str:
    text = claim_text(value)
    if text is None:
        return f"a {type(value).__name__}"
    return repr(text[:_MAX_TEXT])


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"the ID token's {name} is not a number")
    return float(value)


def check_claims(
    claims: Mapping[str, Any], rule: FederationRule, *, now: float, leeway: float
) -> None:
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer.rstrip("/") != rule.issuer.rstrip("/"):
        raise TokenRejected(
            f"the ID token is from issuer {_shown(issuer)}, the robot trusts {rule.issuer!r}"
        )
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if rule.audience not in audiences:
        raise TokenRejected(
            f"wrong audience: the ID token is for {', '.join(_shown(a) for a in audiences)}, "
            f"not {rule.audience!r}"
        )
    expires = _number(claims, "exp")
    if expires is None:
        raise TokenRejected("the ID token has no exp")
    if expires <= now:
        raise TokenRejected(f"the ID token expired {int(now - expires)} s ago")
    for name in ("nbf", "iat"):
        moment = _number(claims, name)
        if moment is not None and moment > now + leeway:
            raise TokenRejected(f"the ID token's {name} is {int(moment - now)} s in the future")
    for name, accepted in rule.conditions.items():
        if name not in claims:
            raise TokenRejected(f"claim mismatch: the ID token has no {name!r} claim")
        if not _condition_holds(claims[name], accepted):
            raise TokenRejected(
                f"claim mismatch: {name} is {_shown(claims[name])}, the robot accepts "
                + " or ".join(repr(v) for v in accepted)
            )


def identifying_claims(
    claims: Mapping[str, Any], conditions: Mapping[str, tuple[str, ...]] = {}
) -> dict[str, str]:
    """The claims that say which job used the token, as short texts (for log and audit)."""
    found: dict[str, str] = {}
    for name in (*IDENTIFYING, *conditions):
        if name in found or name not in claims:
            continue
        value = claims[name]
        text = claim_text(value) if not isinstance(value, list) else None
        if text is None and isinstance(value, list):
            text = ",".join(t for t in map(claim_text, value) if t is not None)
        if text is not None:
            found[name] = text[:_MAX_TEXT]
    return found
