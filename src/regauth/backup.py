"""Backups of a SQLite installation: one archive with the database and the data folder's files.

``create_backup`` copies the database with SQLite's online backup API (a consistent snapshot
while ``regauth serve`` goes on writing), checks the copy, and writes a gzip'ed tar readable by
its owner only (mode 600: the database holds the signing keys and password hashes), by way of
a temporary file renamed into place, so a failed backup leaves nothing behind. Besides the
database the archive holds every other regular file of the data folder (``bundle.pem``,
``jwks.json``, an ``htpasswd``, the key files of earlier versions) and a manifest with their
SHA-256 digests.

``restore_backup`` checks the archive whole (names, digests, the database's integrity) before it
touches the data folder, and refuses a folder that holds anything unless told to replace it.
PostgreSQL installations back up with ``pg_dump`` instead (:data:`POSTGRESQL_RECIPE`).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regauth.config import Config
from regauth.datadir import DataDir

__all__ = [
    "POSTGRESQL_RECIPE",
    "BackupError",
    "BackupSummary",
    "create_backup",
    "restore_backup",
    "sqlite_database",
]

MANIFEST = "regauth-backup.json"
DATABASE = "regauth.db"
FORMAT = 1
#: SQLite's files beside the database, removed when a restore replaces it
_DATABASE_FILES = ("-wal", "-shm", "-journal")
POSTGRESQL_RECIPE = (
    "database.url is PostgreSQL: back it up with "
    'pg_dump --format=custom --file=regauth.dump "$DATABASE_URL" and restore with '
    'pg_restore --clean --if-exists --dbname="$DATABASE_URL" regauth.dump; the signing keys '
    "are in the database (keep token.key's file too, if you configured one); see the README, "
    "Backups"
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


@dataclass(frozen=True)
class BackupSummary:
    archive: Path
    database_bytes: int
    files: tuple[str, ...]
    schema: str | None


def sqlite_database(config: Config, data_dir: DataDir) -> Path | None:
    """The SQLite database file of this configuration, or None on PostgreSQL."""
    url = config.database.url
    if url is None:
        return data_dir.path / DATABASE
    from sqlalchemy.engine import make_url

    parsed = make_url(url.reveal())
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("database.url is an in-memory SQLite database: nothing to back up")
    return Path(parsed.database).resolve()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_database(path: Path) -> str | None:
    """Raise unless ``path`` is a sound SQLite database; its schema revision, if any."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (result,) = connection.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                raise BackupError(f"the database copy is damaged: {result}")
            try:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.DatabaseError:
                return None
            return str(row[0]) if row else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a usable SQLite database: {exc}") from None


def _snapshot(database: Path, copy: Path) -> None:
    """Copy ``database`` with SQLite's online backup API."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
            # a self-contained file: no -wal to go with it
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read the database {database}: {exc}") from None
    finally:
        source.close()


def _data_files(data_dir: Path, database: Path) -> list[Path]:
    if not data_dir.is_dir():
        return []
    # regauth.db and what lives beside it (-wal, -shm, -journal, the -changes signal)
    return sorted(
        path
        for path in data_dir.iterdir()
        if path.is_file() and not path.is_symlink() and not path.name.startswith(database.name)
    )


def create_backup(
    database: Path, data_dir: DataDir, archive: Path, *, force: bool = False
) -> BackupSummary:
    """Write the backup archive ``archive`` (mode 600)."""
    if archive.exists() and not force:
        raise BackupError(f"{archive} exists: give another name, or --force to replace it")
    if not database.is_file():
        raise BackupError(
            f"no database at {database}: nothing to back up (check --data-dir and --config)"
        )
    archive = archive.resolve()
    if not archive.parent.is_dir():
        raise BackupError(f"folder {archive.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix=".regauth-backup-", dir=archive.parent) as work:
        copy = Path(work) / DATABASE
        _snapshot(database, copy)
        schema = _check_database(copy)
        files = _data_files(data_dir.path, database)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "schema": schema,
            "database": {"name": DATABASE, "sha256": _sha256(copy)},
            "files": {path.name: _sha256(path) for path in files},
        }
        partial = Path(work) / "archive.tar.gz"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            body = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(body), 0o600
            tar.addfile(info, io.BytesIO(body))
            tar.add(copy, arcname=DATABASE, recursive=False)
            for path in files:
                tar.add(path, arcname=f"data/{path.name}", recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        size = copy.stat().st_size
        os.replace(partial, archive)
    return BackupSummary(archive, size, tuple(p.name for p in files), schema)


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        handle = tar.extractfile(member)
        manifest = json.loads(handle.read()) if handle else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a regauth backup (no readable regauth-backup.json)")
    return manifest


def _extract(tar: tarfile.TarFile, manifest: dict[str, Any], into: Path) -> list[str]:
    """Every member into ``into``, checked against the manifest; the data files' names."""
    expected = {DATABASE: manifest["database"]["sha256"]}
    expected |= {f"data/{name}": digest for name, digest in manifest["files"].items()}
    seen: set[str] = set()
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        name = member.name
        plain = name.removeprefix("data/")
        if name not in expected or not member.isfile() or "/" in plain or plain in ("", ".", ".."):
            raise BackupError(f"not a regauth backup: unexpected entry {name!r}")
        handle = tar.extractfile(member)
        if handle is None:
            raise BackupError(f"not a regauth backup: unreadable entry {name!r}")
        target = into / plain if name != DATABASE else into / DATABASE
        with handle, target.open("wb") as out:
            shutil.copyfileobj(handle, out)
        target.chmod(member.mode & 0o644)  # public files stay public, private ones private
        if _sha256(target) != expected[name]:
            raise BackupError(f"the backup is damaged: {name} does not match its digest")
        seen.add(name)
    if seen != set(expected):
        raise BackupError(f"the backup is incomplete: {', '.join(sorted(set(expected) - seen))}")
    return sorted(manifest["files"])


def restore_backup(
    archive: Path, database: Path, data_dir: DataDir, *, force: bool = False
) -> BackupSummary:
    """Restore ``archive`` into ``data_dir`` (database at ``database``)."""
    folder = data_dir.path
    if folder.exists() and any(folder.iterdir()) and not force:
        raise BackupError(
            f"data folder {folder} is not empty: restore into a new folder, or give --force to "
            "replace its database and files (stop regauth serve first)"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(
            f"cannot read {archive}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    with tar, tempfile.TemporaryDirectory(prefix=".regauth-restore-", dir=folder.parent) as work:
        staged = Path(work)
        try:
            manifest = _read_manifest(tar)
            names = _extract(tar, manifest, staged)
        except (tarfile.TarError, OSError, KeyError, TypeError) as exc:
            raise BackupError(f"cannot read {archive}: {exc}") from None
        schema = _check_database(staged / DATABASE)
        # checked whole: now into place, the database last
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in names:
            os.replace(staged / name, folder / name)
        for suffix in _DATABASE_FILES:
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        (staged / DATABASE).chmod(0o600)
        shutil.move(staged / DATABASE, database)
    return BackupSummary(archive, database.stat().st_size, tuple(names), schema)
