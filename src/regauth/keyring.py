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

import asyncio
import contextlib
import datetime
import os
from collections.abc import Callable
from pathlib import Path

import structlog
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
    write_trust_files,
)
from regauth.store.database import Database

__all__ = [
    "CONFIGURED_KEY_MESSAGE",
    "KeySetupError",
    "LiveKeys",
    "configured_key",
    "ensure_keys",
    "key_settings",
    "key_store",
    "key_warnings",
    "open_key_ring",
]

log = structlog.get_logger("regauth.keys")

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


class LiveKeys:
    """The keys one server process signs with, following the managed keys in the database.

    :meth:`reload` (on a ``keys`` change in the change log) makes a new :class:`KeyRing`,
    hands its signer to ``on_change`` (the token service) and rewrites the data folder's
    ``bundle.pem`` and ``jwks.json``. If the database cannot be read just then, it tries again
    every :data:`RETRY_SECONDS` until it can: a change is never lost to a blip."""

    RETRY_SECONDS = 1.0

    def __init__(
        self,
        ring: KeyRing,
        store: SigningKeys | None,
        data_dir: DataDir,
        *,
        clock: Clock = utcnow,
        on_change: Callable[[KeyRing], None] | None = None,
    ) -> None:
        self._ring = ring
        self._store = store
        self._data_dir = data_dir
        self._clock = clock
        self.on_change = on_change
        self._retry: asyncio.Task[None] | None = None

    @property
    def ring(self) -> KeyRing:
        return self._ring

    @property
    def store(self) -> SigningKeys | None:
        """The managed keys; None with a configured key."""
        return self._store

    async def reload(self) -> None:
        store = self._store
        if store is None:
            return
        try:
            key_set = await store.database.run(store.key_set)
        except Exception as exc:  # the database is away: keep the keys we have, try again
            log.error(
                "reading the changed signing keys failed; trying again",
                error=str(exc).split("\n", 1)[0][:300],
            )
            self._retry_later()
            return
        try:
            ring = KeyRing.from_key_set(
                key_set, store.settings, clock=self._clock, known=self._ring.known_keys()
            )
        except (KeySetError, KeyError_) as exc:  # keep signing with the keys we have
            log.error("the changed signing keys cannot be used", error=str(exc)[:300])
            return
        self._ring = ring
        if self.on_change is not None:
            self.on_change(ring)
        log.info("signing keys reloaded", active=ring.active.kid, published=len(ring.published()))
        try:
            await asyncio.to_thread(write_trust_files, ring.published(), self._data_dir.path)
        except OSError as exc:
            log.warning("could not rewrite bundle.pem and jwks.json", error=str(exc)[:300])

    def _retry_later(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(self._retry_reload())

    async def _retry_reload(self) -> None:
        await asyncio.sleep(self.RETRY_SECONDS)
        self._retry = None
        await self.reload()

    async def close(self) -> None:
        task, self._retry = self._retry, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
