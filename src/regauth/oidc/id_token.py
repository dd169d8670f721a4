"""ID token validation (OpenID Connect Core 1.0, section 3.1.3.7), after the signature.

The signature is checked by :func:`regauth.oidc.jwks.verify_signature`; here the claims:
``iss`` is the provider's, ``aud`` holds our client_id (and ``azp`` is ours when present or
when there are several audiences), ``exp`` is in the future and ``iat`` not in the future
(both with a small leeway for clock skew), and ``nonce`` is the one this login sent. ``now``
is passed in, so tests can check expiry without waiting.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.errors import ExpiredTokenError, InvalidClaimError, MissingClaimError
from joserfc.jwt import JWTClaimsRegistry

from regauth.oidc.errors import TokenRejected

__all__ = ["DEFAULT_LEEWAY", "IdTokenCheck", "check_id_token_claims", "registry_errors"]

#: seconds of clock skew tolerated on exp, iat and nbf
DEFAULT_LEEWAY = 30


@dataclass(frozen=True, slots=True)
class IdTokenCheck:
    issuer: str
    client_id: str
    nonce: str | None
    leeway: int = DEFAULT_LEEWAY


def registry_errors(registry: JWTClaimsRegistry, claims: dict[str, Any], what: str) -> None:
    """Run joserfc's claim checks, turning its errors into :class:`TokenRejected`."""
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise TokenRejected(f"the {what} has expired") from None
    except MissingClaimError as exc:
        raise TokenRejected(f"the {what} lacks the claim(s) {exc.description}") from None
    except InvalidClaimError as exc:
        raise TokenRejected(f"the {what} has a wrong claim: {exc.description}") from None


def check_id_token_claims(claims: Mapping[str, Any], check: IdTokenCheck, now: int) -> None:
    registry = JWTClaimsRegistry(
        now=now,
        leeway=check.leeway,
        iss={"essential": True, "value": check.issuer},
        aud={"essential": True, "value": check.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    registry_errors(registry, dict(claims), "ID token")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != check.client_id:
        raise TokenRejected("the ID token was issued to another client (azp)")
    if check.nonce is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            nonce.encode(), check.nonce.encode()
        ):
            raise TokenRejected("the ID token's nonce is not the one this login sent")
