"""Signing keys and certificates: load, generate, publish (certificate bundle and JWKS).

The registry trusts a token when its ``x5c`` chain ends at a certificate in its
``rootcertbundle`` (2.x and 3.x), when its ``kid`` is the libtrust ID of a bundle key (2.x), or
when its ``kid`` is the RFC 7638 thumbprint of a bundle or JWKS key (3.x). regauth therefore
keeps, for every key: the private key, a certificate chain (self-signed when generated), both
key IDs, and the protected header every token signed with it carries.
"""

from __future__ import annotations

import base64
import datetime
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from regauth.protocol.jws import JwsSigner, b64url
from regauth.protocol.keyid import jwk_thumbprint, libtrust_key_id

__all__ = [
    "KeyError_",
    "SigningKey",
    "generate_key_pair",
    "jwks_document",
    "load_signing_key",
    "public_jwk",
]

GENERATED_KEY = "token-signing.key"
GENERATED_CERT = "token-signing.crt"
CERT_VALIDITY_DAYS = 3650

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyError_(Exception):  # the trailing _ avoids shadowing the builtin KeyError
    """A key or certificate file is missing, unreadable or does not fit the configuration."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def public_jwk(key: PrivateKey) -> dict[str, str]:
    numbers: Any
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big")),
        }
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    algorithm: str
    #: leaf first, as the x5c header wants it
    chain: tuple[x509.Certificate, ...]
    libtrust_kid: str
    thumbprint_kid: str
    kid: str
    signer: JwsSigner

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = public_jwk(self.private_key)
        jwk.update(
            kid=self.kid,
            use="sig",
            alg=self.algorithm,
            x5c=[_b64_der(cert) for cert in self.chain],
        )
        return jwk

    def bundle_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def _b64_der(cert: x509.Certificate) -> str:
    # x5c uses standard base64 (RFC 7515 section 4.1.6), not the URL-safe alphabet
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_certificate(
    key: PrivateKey, common_name: str = "regauth token signer"
) -> x509.Certificate:
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


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable only by its owner, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def certificate_matches_key(cert_path: Path, key: PrivateKey) -> bool:
    try:
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(chain) and chain[0].public_key().public_bytes(
        *spki
    ) == key.public_key().public_bytes(*spki)


def write_self_signed_certificate(key_path: Path, cert_path: Path) -> None:
    """Certify an existing key (given without a certificate) so the registry can trust it."""
    key = _load_private_key(key_path, "token.key")
    if cert_path.exists() and certificate_matches_key(cert_path, key):
        return
    write_public(cert_path, self_signed_certificate(key).public_bytes(serialization.Encoding.PEM))


def generate_key_pair(directory: Path, algorithm: str) -> tuple[Path, Path]:
    """Create a private key and a self-signed certificate in ``directory``."""
    key = generate_private_key(algorithm)
    certificate = self_signed_certificate(key)
    key_path, cert_path = directory / GENERATED_KEY, directory / GENERATED_CERT
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write_public(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _read(path: Path, config_key: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyError_(config_key, f"file not found: {path}") from None
    except OSError as exc:
        raise KeyError_(config_key, f"cannot read {path}: {exc.strerror}") from None


def _load_private_key(path: Path, config_key: str) -> PrivateKey:
    data = _read(path, config_key)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyError_(config_key, f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyError_(config_key, f"{path}: only EC P-256 and RSA keys are supported")
    return key


def _load_chain(path: Path, config_key: str) -> tuple[x509.Certificate, ...]:
    data = _read(path, config_key)
    try:
        chain = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise KeyError_(config_key, f"{path} holds no PEM certificate") from None
    return chain


def load_signing_key(
    *,
    key_path: Path,
    cert_path: Path,
    algorithm: str,
    kid_style: str,
    x5c: bool,
    key_config_name: str = "token.key",
    cert_config_name: str = "token.certificate",
) -> SigningKey:
    """Load a key and its certificate chain; check they belong together and fit ``algorithm``."""
    private_key = _load_private_key(key_path, key_config_name)
    if algorithm == "ES256" and not (
        isinstance(private_key, ec.EllipticCurvePrivateKey)
        and private_key.curve.name == "secp256r1"
    ):
        raise KeyError_("token.algorithm", f"ES256 needs a P-256 EC key, {key_path} is not one")
    if algorithm == "RS256" and not isinstance(private_key, rsa.RSAPrivateKey):
        raise KeyError_("token.algorithm", f"RS256 needs an RSA key, {key_path} is not one")
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < 2048:
        raise KeyError_(key_config_name, "RSA keys must have at least 2048 bits")
    chain = _load_chain(cert_path, cert_config_name)
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf_spki = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if leaf_spki != spki:
        raise KeyError_(
            cert_config_name, f"the first certificate in {cert_path} is not for the key {key_path}"
        )
    libtrust = libtrust_key_id(spki)
    thumbprint = jwk_thumbprint(public_jwk(private_key))
    kid = libtrust if kid_style == "libtrust" else thumbprint
    header: dict[str, Any] = {"kid": kid}
    if x5c:
        header["x5c"] = [_b64_der(cert) for cert in chain]
    return SigningKey(
        private_key=private_key,
        algorithm=algorithm,
        chain=chain,
        libtrust_kid=libtrust,
        thumbprint_kid=thumbprint,
        kid=kid,
        signer=JwsSigner(private_key, algorithm, header),
    )
