"""Which keys this configuration signs with: a configured key, or the managed keys.

* **Configured** (``token.key``, and ``token.certificate`` or a self-signed certificate made in
  the data folder): read from files at every start, exactly one key, no rotation through
  regauth; the ``keys`` commands refuse with :data:`CONFIGURED_KEY_MESSAGE`.
* **Managed** (no ``token.key``): the keys live in the database
  (:class:`~regauth.accounts.signing_keys.SigningKeys`), shared by every instance on it and
  rotated with ``regauth keys``. When the table is empty (a new installation, or the first
  start after an upgrade) the data folder's key of earlier versions, or a new one, becomes the
  active key.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from regauth.accounts.signing_keys import SigningKeys
from regauth.clock import Clock, utcnow
from regauth.config import Config
from regauth.datadir import DataDir, DataDirError
from regauth.keys import (
    KeyError_,
    KeyMaterial,
    KeyRing,
    KeySet,
    KeySetError,
    KeySettings,
    PrivateKey,
    SigningKey,
    leading_zero_coordinate,
    load_signing_key,
)
from regauth.store.database import Database

__all__ = [
    "CONFIGURED_KEY_MESSAGE",
    "KeySetupError",
    "configured_key",
    "ensure_keys",
    "key_settings",
    "key_store",
    "key_warnings",
    "open_key_ring",
]

CONFIGURED_KEY_MESSAGE = (
    "the signing key comes from token.key in the configuration, so regauth does not manage "
    "keys; to manage them, remove token.key and token.certificate from the configuration and "
    "import that key first: `regauth keys add --key FILE --certificate FILE`"
)


class KeySetupError(Exception):
    """The keys cannot be used; one line naming the file, the key or what to do."""


def key_settings(config: Config) -> KeySettings:
    token = config.token
    return KeySettings(
        kid_style=token.kid,
        x5c=token.x5c,
        token_lifetime=datetime.timedelta(seconds=token.expiration),
    )


def configured_key(config: Config, data_dir: DataDir) -> SigningKey:
    """The key ``token.key`` names, with its certificate chain."""
    try:
        key_path, cert_path = data_dir.configured_key_paths(config)
        return load_signing_key(
            key_path=key_path,
            cert_path=cert_path,
            algorithm=config.token.algorithm,
            kid_style=config.token.kid,
            x5c=config.token.x5c,
        )
    except (KeyError_, DataDirError) as exc:
        raise KeySetupError(str(exc)) from None


def key_store(config: Config, database: Database, clock: Clock = utcnow) -> SigningKeys:
    return SigningKeys(database, clock, settings=key_settings(config))


def ensure_keys(
    store: SigningKeys,
    config: Config,
    data_dir: DataDir,
    *,
    first: KeyMaterial | None = None,
) -> KeySet:
    """The managed key set, made if empty from the data folder's key of earlier versions, else
    from ``first`` (a key being imported), else a new key of ``token.algorithm``."""

    def initial() -> KeyMaterial:
        if first is not None and not data_dir.has_generated_key():
            return first
        return data_dir.initial_key(config.token.algorithm)

    try:
        key_set = store.ensure_initial(initial)
    except KeyError_ as exc:
        raise KeySetupError(f"importing the data folder's signing key: {exc}") from None
    _restrict_sqlite_file(store.database.url)
    return key_set


def open_key_ring(
    config: Config, data_dir: DataDir, database: Database, clock: Clock = utcnow
) -> tuple[KeyRing, SigningKeys | None]:
    """The keys to sign with and publish, and (managed keys only) where they are stored."""
    if config.token.key is not None:
        return KeyRing.single(configured_key(config, data_dir)), None
    store = key_store(config, database, clock)
    key_set = ensure_keys(store, config, data_dir)
    try:
        ring = KeyRing.from_key_set(key_set, store.settings, clock=clock)
    except (KeySetError, KeyError_) as exc:
        raise KeySetupError(str(exc)) from None
    return ring, store


def key_warnings(config: Config, key: PrivateKey | None) -> list[str]:
    """What ``check-config`` warns about the key settings and a configured key."""
    warnings = []
    token = config.token
    if token.kid == "thumbprint" and not token.x5c:
        warnings.append(
            "token.kid: thumbprint with x5c: false: registry 2.x cannot verify these tokens "
            "(it looks kid up by libtrust ID); use kid: libtrust or x5c: true for registry 2.x"
        )
    if key is not None and leading_zero_coordinate(key):
        warnings.append(
            "token.key: an EC coordinate of this key starts with a zero byte, so registry 3.1 "
            "computes another thumbprint for it: with kid: thumbprint and x5c: false it refuses "
            "the tokens unless given jwks.json; better use a new key (`regauth keys add`)"
        )
    return warnings


def _restrict_sqlite_file(url: str) -> None:
    """The managed private keys are in the SQLite file: readable by its owner only."""
    if not url.startswith("sqlite"):
        return
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(name + suffix)
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        except OSError:  # not ours to change (another owner): leave it
            continue
