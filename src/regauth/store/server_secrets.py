"""Random secrets made once and shared by every process and instance (``server_secrets``), such
as the key that authenticates the single sign-on login cookie. Never logged, never shown."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from regauth.clock import utcnow
from regauth.store.database import Database
from regauth.store.models import ServerSecret

__all__ = ["server_secret"]


def _read(database: Database, name: str) -> bytes | None:
    with database.read() as session:
        row = session.get(ServerSecret, name)
        return bytes.fromhex(row.value) if row is not None else None


def server_secret(database: Database, name: str, size: int = 32) -> bytes:
    """The secret called ``name``, made of ``size`` random bytes the first time it is asked
    for. Processes asking at once all get the one that was stored first."""
    stored = _read(database, name)
    if stored is not None:
        return stored
    try:
        with database.write() as session:
            if session.get(ServerSecret, name) is None:
                value = secrets.token_bytes(size).hex()
                session.add(ServerSecret(name=name, value=value, created_at=utcnow()))
    except IntegrityError:  # another instance stored it between our read and our write
        pass
    stored = _read(database, name)
    if stored is None:  # pragma: no cover - written just above, and never deleted
        raise RuntimeError(f"server secret {name!r} was not stored")
    return stored
