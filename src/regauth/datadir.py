"""The data folder: generated signing keys and certificates, the SQLite database.

``regauth serve`` with no configuration works out of the box: the first start creates the
folder, an ES256 key with a self-signed certificate and the database. Later starts reuse them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from regauth.config import Config
from regauth.keys import (
    GENERATED_CERT,
    GENERATED_KEY,
    generate_key_pair,
    write_self_signed_certificate,
)

__all__ = ["DEFAULT_DATA_DIR", "DataDir", "DataDirError"]

DEFAULT_DATA_DIR = Path("regauth-data")
BUNDLE_FILE = "bundle.pem"
JWKS_FILE = "jwks.json"
HTPASSWD_FILE = "htpasswd"


class DataDirError(Exception):
    pass


@dataclass(frozen=True)
class DataDir:
    path: Path

    @classmethod
    def resolve(cls, given: str | os.PathLike[str] | None) -> DataDir:
        return cls(Path(given).expanduser().resolve() if given else DEFAULT_DATA_DIR.resolve())

    def ensure(self) -> None:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"cannot create data folder {self.path}: {exc.strerror}") from None
        if not os.access(self.path, os.W_OK):
            raise DataDirError(f"data folder {self.path} is not writable")

    @property
    def htpasswd(self) -> Path:
        return self.path / HTPASSWD_FILE

    def signing_key_paths(self, config: Config) -> tuple[Path, Path]:
        """The key and certificate to sign with, generating whatever the config leaves out."""
        token = config.token
        if token.key is not None:
            if token.certificate is not None:
                return token.key, token.certificate
            self.ensure()
            cert = self.path / GENERATED_CERT
            write_self_signed_certificate(token.key, cert)
            return token.key, cert
        key, cert = self.path / GENERATED_KEY, self.path / GENERATED_CERT
        if not key.exists() or not cert.exists():
            self.ensure()
            generate_key_pair(self.path, token.algorithm)
        return key, cert
