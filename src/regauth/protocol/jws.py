"""JWS compact serialization (RFC 7515) of registry tokens, ES256 and RS256.

Written out rather than delegated to a JWT library because the header of every token a key
signs is the same: it is serialized once per key (:class:`JwsSigner`), and so is the SHA-256
state after it (with the certificate chain in ``x5c`` the header is most of the signing input),
so each token costs one JSON encoding of the claims, the hash of the claims and one signature.
Tests verify the output with PyJWT and with the real registry.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

__all__ = ["SUPPORTED_ALGORITHMS", "JwsSigner", "b64url"]

SUPPORTED_ALGORITHMS = ("ES256", "RS256")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def b64url_bytes(data: bytes) -> bytes:
    """Unpadded URL-safe base64 (``base64.urlsafe_b64encode`` without two Python calls)."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


def b64url(data: bytes) -> str:
    return b64url_bytes(data).decode("ascii")


class JwsSigner:
    """Signs claims with one key and a fixed protected header."""

    __slots__ = (
        "_algorithm",
        "_ec_key",
        "_ecdsa",
        "_header_hash",
        "_header_segment",
        "_key",
        "_prehashed",
        "_rsa_key",
        "header",
    )

    def __init__(self, key: PrivateKey, algorithm: str, header: Mapping[str, Any]) -> None:
        if algorithm == "ES256":
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("ES256 needs a P-256 (secp256r1) EC private key")
        elif algorithm == "RS256":
            if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
                raise ValueError("RS256 needs an RSA private key of at least 2048 bits")
        else:
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        self._key = key
        self._algorithm = algorithm
        # made once: the key type (an ABC isinstance is slow), the header's segment and the
        # hash state after it; each token continues a copy of that state
        self._prehashed = Prehashed(hashes.SHA256())
        self._ecdsa = ec.ECDSA(self._prehashed)
        self._ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else None
        self._rsa_key = key if isinstance(key, rsa.RSAPrivateKey) else None
        self.header = {"typ": "JWT", "alg": algorithm, **header}
        self._header_segment = b64url_bytes(orjson.dumps(self.header)) + b"."
        self._header_hash = hashlib.sha256(self._header_segment)

    @property
    def algorithm(self) -> str:
        return self._algorithm

    def sign(self, claims: Mapping[str, Any]) -> str:
        return self.sign_payload(orjson.dumps(claims))

    def sign_payload(self, payload: bytes) -> str:
        """The token for a payload that is already the claims' JSON (a ClaimsTemplate's)."""
        payload_segment = b64url_bytes(payload)
        hashed = self._header_hash.copy()
        hashed.update(payload_segment)
        digest = hashed.digest()
        if self._ec_key is not None:
            r, s = decode_dss_signature(self._ec_key.sign(digest, self._ecdsa))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif self._rsa_key is not None:
            signature = self._rsa_key.sign(digest, padding.PKCS1v15(), self._prehashed)
        else:  # pragma: no cover - the constructor accepts only these two
            raise ValueError("no signing key")
        token = self._header_segment + payload_segment + b"." + b64url_bytes(signature)
        return token.decode("ascii")
