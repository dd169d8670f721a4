"""Key identifiers the registry understands in a token's ``kid`` header.

* libtrust (Distribution 2.x): SHA-256 over the DER SubjectPublicKeyInfo, first 240 bits,
  base32 without padding, 12 groups of 4 characters joined by ``:``.
* RFC 7638 JWK thumbprint (Distribution 3.x): base64url SHA-256 of the canonical JWK members.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

__all__ = ["jwk_thumbprint", "libtrust_key_id"]

_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def libtrust_key_id(subject_public_key_info_der: bytes) -> str:
    digest = hashlib.sha256(subject_public_key_info_der).digest()[:30]
    encoded = base64.b32encode(digest).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 section 3: hash the required members, sorted, with no whitespace."""
    try:
        members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    except KeyError:
        raise ValueError(f"no thumbprint rule for key type {jwk.get('kty')!r}") from None
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
