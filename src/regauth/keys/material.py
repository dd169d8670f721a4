"""Key material: a private key and its certificate chain, generated or read from PEM, checked.

Only EC P-256 (ES256) and RSA of at least 2048 bits (RS256) are accepted, an unencrypted PEM
private key (PKCS#8 or the traditional forms) and a PEM certificate chain whose first
certificate is for that key. Generated keys get a self-signed certificate, since the registry's
``rootcertbundle`` must hold certificates, not bare public keys.

Registry 3.1 computes a key's RFC 7638 thumbprint from the EC coordinates with their leading
zero bytes removed, so about one P-256 key in 128 gets another thumbprint there than here, and
a token whose ``kid`` is the thumbprint (``kid: thumbprint``, ``x5c: false``, no ``jwks``) is
refused as "untrusted key". :func:`generate_private_key` never hands out such a key, and
:func:`leading_zero_coordinate` finds one among configured or imported keys.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from regauth.protocol.jws import b64url
from regauth.protocol.keyid import jwk_thumbprint, libtrust_key_id

__all__ = [
    "ALGORITHMS",
    "KeyError_",
    "KeyMaterial",
    "PrivateKey",
    "algorithm_of",
    "certificate_matches_key",
    "generate_private_key",
    "leading_zero_coordinate",
    "parse_chain",
    "parse_private_key",
    "public_jwk",
    "self_signed_certificate",
]

ALGORITHMS = ("ES256", "RS256")
CERT_VALIDITY_DAYS = 3650
#: P-256 coordinates are 32 bytes
_P256_SIZE = 32
#: attempts at a P-256 key without a leading zero byte; each succeeds with 127/128 chance
_MAX_ATTEMPTS = 64

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyError_(Exception):  # the trailing _ avoids shadowing the builtin KeyError
    """A key or certificate is missing, unreadable or does not fit; ``key`` names where it came
    from (a configuration key such as ``token.key``, or a command option such as ``--key``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _spki(public_key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (of a private key's or a certificate's)."""
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The public key as a JWK (RFC 7518 section 6): fixed-size EC coordinates, minimal RSA
    integers."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(point.x.to_bytes(size, "big")),
            "y": b64url(point.y.to_bytes(size, "big")),
        }
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


def leading_zero_coordinate(key: PrivateKey) -> bool:
    """True for an EC key whose x or y coordinate starts with a zero byte (registry 3.1 gets
    another thumbprint for it); RSA keys have no such problem."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    point = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    return point.x.to_bytes(size, "big")[0] == 0 or point.y.to_bytes(size, "big")[0] == 0


def generate_private_key(algorithm: str) -> PrivateKey:
    """A new key for ``algorithm``; P-256 keys never have a coordinate with a leading zero."""
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm != "ES256":
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    for _ in range(_MAX_ATTEMPTS):
        key = ec.generate_private_key(ec.SECP256R1())
        if not leading_zero_coordinate(key):
            return key
    raise RuntimeError("no P-256 key without a leading zero byte in 64 attempts")  # 2**-448


def algorithm_of(key: PrivateKey) -> str:
    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"


def self_signed_certificate(key: PrivateKey, common_name: str | None = None) -> x509.Certificate:
    """A ten-year certificate for ``key``, named after it (``regauth token signer`` and the
    start of its thumbprint) so the keys in a bundle can be told apart."""
    if common_name is None:
        common_name = f"regauth token signer {jwk_thumbprint(public_jwk(key))[:12]}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def certificate_matches_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    return _spki(certificate.public_key()) == _spki(key.public_key())


def parse_private_key(data: bytes, name: str) -> PrivateKey:
    """An unencrypted PEM private key of a supported kind; ``name`` says where it came from."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyError_(name, "not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp256r1":
            raise KeyError_(name, f"EC keys must be P-256 (ES256), not {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise KeyError_(name, "RSA keys must have at least 2048 bits")
        return key
    raise KeyError_(name, "only EC P-256 and RSA keys are supported")


def parse_chain(data: bytes, name: str) -> tuple[x509.Certificate, ...]:
    try:
        chain = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise KeyError_(name, "holds no PEM certificate") from None
    return chain


@dataclass(frozen=True)
class KeyMaterial:
    """A private key, its algorithm and its certificate chain (leaf first), known to fit."""

    private_key: PrivateKey
    algorithm: str
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def generate(cls, algorithm: str) -> KeyMaterial:
        """A new key with a self-signed certificate. Its thumbprint never starts with ``-``
        (one in 64 would), so it can be typed as a command's argument as it is."""
        key = generate_private_key(algorithm)
        while jwk_thumbprint(public_jwk(key)).startswith("-"):
            key = generate_private_key(algorithm)
        return cls(key, algorithm, (self_signed_certificate(key),))

    @classmethod
    def from_pem(
        cls,
        key_pem: bytes,
        chain_pem: bytes | None,
        *,
        algorithm: str | None = None,
        key_name: str = "key",
        chain_name: str = "certificate",
    ) -> KeyMaterial:
        """Parse and check a key and its chain (a self-signed certificate when none is given).

        ``algorithm`` is what the key must fit; without it, the key's kind decides.
        """
        key = parse_private_key(key_pem, key_name)
        if algorithm == "ES256" and not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyError_(key_name, "ES256 needs a P-256 EC key, this is an RSA key")
        if algorithm == "RS256" and not isinstance(key, rsa.RSAPrivateKey):
            raise KeyError_(key_name, "RS256 needs an RSA key, this is an EC key")
        if chain_pem is None:
            chain: tuple[x509.Certificate, ...] = (self_signed_certificate(key),)
        else:
            chain = parse_chain(chain_pem, chain_name)
            if not certificate_matches_key(chain[0], key):
                raise KeyError_(chain_name, f"the first certificate is not for the {key_name}")
        return cls(key, algorithm or algorithm_of(key), chain)

    @cached_property
    def spki_der(self) -> bytes:
        return _spki(self.private_key.public_key())

    @cached_property
    def thumbprint(self) -> str:
        """The RFC 7638 JWK thumbprint: the key's ID in the database and for registry 3."""
        return jwk_thumbprint(public_jwk(self.private_key))

    @cached_property
    def libtrust_kid(self) -> str:
        """The libtrust key ID registry 2.x looks ``kid`` up by."""
        return libtrust_key_id(self.spki_der)

    @property
    def leading_zero_coordinate(self) -> bool:
        return leading_zero_coordinate(self.private_key)

    def private_pem(self) -> bytes:
        """PKCS#8, unencrypted: how the database and the key files hold it."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def chain_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)
