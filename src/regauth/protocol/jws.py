"""JWS compact serialization (RFC 7515) of registry tokens, ES256 and RS256.

Written out rather than delegated to a JWT library because the header of every token a key
signs is the same: it is serialized once per key (:class:`JwsSigner`) and each token costs one
JSON encoding of the claims plus one signature. Tests verify the output with PyJWT and with the
real registry.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["SUPPORTED_ALGORITHMS", "JwsSigner", "b64url"]

SUPPORTED_ALGORITHMS = ("ES256", "RS256")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """Unpadded URL-safe base64 (``base64.urlsafe_b64encode`` without two Python calls)."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


class JwsSigner:
    """Signs claims with one key and a fixed protected header."""

    __slots__ = ("_algorithm", "_ec_key", "_ecdsa", "_header_segment", "_key", "_rsa_key", "header")

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
        # made once: the algorithm object, and the key type (an ABC isinstance is slow)
        self._ecdsa = ec.ECDSA(hashes.SHA256())
        self._ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else None
        self._rsa_key = key if isinstance(key, rsa.RSAPrivateKey) else None
        self.header = {"typ": "JWT", "alg": algorithm, **header}
        self._header_segment = b64url(orjson.dumps(self.header)) + "."

    @property
    def algorithm(self) -> str:
        return self._algorithm

    def sign(self, claims: Mapping[str, Any]) -> str:
        return self.sign_payload(orjson.dumps(claims))

    def sign_payload(self, payload: bytes) -> str:
        """The token for a payload that is already the claims' JSON (a ClaimsTemplate's)."""
        signing_input = self._header_segment + b64url(payload)
        data = signing_input.encode("ascii")
        if self._ec_key is not None:
            r, s = decode_dss_signature(self._ec_key.sign(data, self._ecdsa))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif self._rsa_key is not None:
            signature = self._rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:  # pragma: no cover - the constructor accepts only these two
            raise ValueError("no signing key")
        return signing_input + "." + b64url(signature)
