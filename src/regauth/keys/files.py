"""Key files: read a key and certificate from disk, write them (atomically, with the right
permissions), and certify a configured key that came without a certificate.

A configured key (``token.key``, ``token.certificate``) is read from files at every start; the
managed keys live in the database (:mod:`regauth.accounts.signing_keys`). Data folders of
earlier versions hold a generated key as ``token-signing.key`` and ``token-signing.crt``, which
the first start of this version imports into the database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from regauth.keys.material import (
    KeyError_,
    KeyMaterial,
    certificate_matches_key,
    parse_chain,
    parse_private_key,
    self_signed_certificate,
)
from regauth.keys.signing import SigningKey, signing_key

__all__ = [
    "GENERATED_CERT",
    "GENERATED_KEY",
    "generate_key_pair",
    "load_signing_key",
    "read_file",
    "read_material",
    "write_public",
    "write_self_signed_certificate",
]

GENERATED_KEY = "token-signing.key"
GENERATED_CERT = "token-signing.crt"


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file of its own beside it (so
    processes writing the same file at once never mix their bytes), then a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes) -> None:
    """A file readable only by its owner."""
    _write(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    """A file anyone may read (certificates, the JWKS)."""
    _write(path, data, 0o644)


def read_file(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyError_(name, f"file not found: {path}") from None
    except OSError as exc:
        raise KeyError_(name, f"cannot read {path}: {exc.strerror}") from None


def read_material(
    key_path: Path,
    cert_path: Path | None,
    *,
    algorithm: str | None = None,
    key_name: str = "token.key",
    cert_name: str = "token.certificate",
) -> KeyMaterial:
    """A key and its chain from files (a self-signed certificate when ``cert_path`` is None)."""
    key_pem = read_file(key_path, key_name)
    chain_pem = read_file(cert_path, cert_name) if cert_path is not None else None
    try:
        return KeyMaterial.from_pem(
            key_pem, chain_pem, algorithm=algorithm, key_name=key_name, chain_name=cert_name
        )
    except KeyError_ as exc:  # name the file too
        path = cert_path if exc.key == cert_name and cert_path is not None else key_path
        message = str(exc).removeprefix(f"{exc.key}: ")
        raise KeyError_(exc.key, f"{path}: {message}") from None


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
    material = read_material(
        key_path,
        cert_path,
        algorithm=algorithm,
        key_name=key_config_name,
        cert_name=cert_config_name,
    )
    return signing_key(material, kid_style=kid_style, x5c=x5c)


def write_self_signed_certificate(key_path: Path, cert_path: Path) -> None:
    """Certify an existing key (given without a certificate) so the registry can trust it."""
    key = parse_private_key(read_file(key_path, "token.key"), "token.key")
    if cert_path.exists():
        try:
            chain = parse_chain(cert_path.read_bytes(), "token.certificate")
        except (OSError, KeyError_):
            chain = ()
        if chain and certificate_matches_key(chain[0], key):
            return
    write_public(cert_path, self_signed_certificate(key).public_bytes(serialization.Encoding.PEM))


def generate_key_pair(directory: Path, algorithm: str) -> tuple[Path, Path]:
    """Create a private key and a self-signed certificate in ``directory``."""
    material = KeyMaterial.generate(algorithm)
    key_path, cert_path = directory / GENERATED_KEY, directory / GENERATED_CERT
    write_private(key_path, material.private_pem())
    write_public(cert_path, material.chain_pem())
    return key_path, cert_path
