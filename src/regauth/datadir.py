"""The data folder: the SQLite database, the files the registry trusts, and keys of old.

``regauth serve`` with no configuration works out of the box: the first start creates the
folder, the database, and an ES256 signing key with a self-signed certificate, stored in the
database (see :mod:`regauth.keyring`); ``bundle.pem`` and ``jwks.json`` are written here for the
registry. Data folders of earlier versions hold their generated key as ``token-signing.key``
and ``token-signing.crt``: :meth:`DataDir.initial_key` hands it to the database once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from regauth.config import Config
from regauth.keys import (
    BUNDLE_FILE,
    GENERATED_CERT,
    GENERATED_KEY,
    JWKS_FILE,
    KeyMaterial,
    read_material,
    write_self_signed_certificate,
)

__all__ = ["BUNDLE_FILE", "DEFAULT_DATA_DIR", "JWKS_FILE", "DataDir", "DataDirError"]

DEFAULT_DATA_DIR = Path("regauth-data")
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

    def require(self) -> None:
        """The folder must exist already: only ``regauth serve`` makes it."""
        if not self.path.is_dir():
            raise DataDirError(
                f"no data folder at {self.path}: `regauth serve` creates it; run this where "
                "regauth serve runs, or name the folder with --data-dir (or REGAUTH_DATA_DIR)"
            )

    @property
    def htpasswd(self) -> Path:
        return self.path / HTPASSWD_FILE

    def configured_key_paths(self, config: Config) -> tuple[Path, Path]:
        """The configured key (``token.key``) and its certificate, a self-signed one made in
        the data folder when the configuration gives none."""
        token = config.token
        if token.key is None:
            raise ValueError("no token.key configured")
        if token.certificate is not None:
            return token.key, token.certificate
        self.ensure()
        cert = self.path / GENERATED_CERT
        write_self_signed_certificate(token.key, cert)
        return token.key, cert

    def has_generated_key(self) -> bool:
        """An earlier version generated a key here (``token-signing.key`` and ``.crt``)."""
        return (self.path / GENERATED_KEY).exists() and (self.path / GENERATED_CERT).exists()

    def initial_key(self, algorithm: str) -> KeyMaterial:
        """The first managed signing key: the one an earlier version generated here, if any
        (so registries keep trusting its tokens), else a new key for ``algorithm``."""
        if self.has_generated_key():
            key, cert = self.path / GENERATED_KEY, self.path / GENERATED_CERT
            return read_material(key, cert, key_name=GENERATED_KEY, cert_name=GENERATED_CERT)
        return KeyMaterial.generate(algorithm)
