"""The managed token signing keys in the database (``signing_keys``): list, add, activate,
retire, and the first key of a new or upgraded installation.

The database is how several instances share their keys: every instance reads the same rows,
and every change appends a ``keys`` entry to the change log in its transaction, so every
worker of every instance reloads its keys on its next request (see
:meth:`regauth.runtime.Runtime.apply_changes`). Changes are serialised (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so two activations at once leave one active key.

The rules (which key may be retired, when a retired key stops being published) are
:class:`regauth.keys.KeySet`'s; this module only reads and writes rows.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from regauth.accounts.errors import Conflict, InvalidInput, NotFound
from regauth.accounts.store_access import StoreAccess, log_change
from regauth.clock import Clock, utcnow
from regauth.keys import (
    AmbiguousKey,
    KeyError_,
    KeyInfo,
    KeyMaterial,
    KeyRecord,
    KeySet,
    KeySettings,
    KeyState,
    RotationRefused,
    UnknownKey,
)
from regauth.keys.keyset import describe
from regauth.store.database import Database
from regauth.store.models import SigningKeyRecord

__all__ = ["KEYS_CHANGE", "SigningKeys"]

#: the change log kind of a change to the signing keys
KEYS_CHANGE = "keys"
#: PostgreSQL advisory lock held by every transaction that changes the keys
_KEYS_LOCK = 7_465_813_211


def _record(row: SigningKeyRecord) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        libtrust_kid=row.libtrust_kid,
        algorithm=row.algorithm,
        private_key=row.private_key,
        certificate=row.certificate,
        state=KeyState(row.state),
        created_at=row.created_at,
        activated_at=row.activated_at,
        deactivated_at=row.deactivated_at,
        retired_at=row.retired_at,
    )


def _store(row: SigningKeyRecord, record: KeyRecord) -> None:
    row.state = str(record.state)
    row.activated_at = record.activated_at
    row.deactivated_at = record.deactivated_at
    row.retired_at = record.retired_at


@contextlib.contextmanager
def _as_account_errors() -> Iterator[None]:
    """The key set's refusals as the account operations' errors (and HTTP statuses)."""
    try:
        yield
    except UnknownKey as exc:
        raise NotFound(exc.message) from None
    except AmbiguousKey as exc:
        raise InvalidInput(exc.message) from None
    except RotationRefused as exc:
        raise Conflict(exc.message) from None
    except KeyError_ as exc:
        raise InvalidInput(str(exc)) from None


class SigningKeys(StoreAccess):
    def __init__(self, database: Database, clock: Clock = utcnow, *, settings: KeySettings) -> None:
        super().__init__(database, clock)
        self._settings = settings

    @property
    def settings(self) -> KeySettings:
        return self._settings

    @property
    def database(self) -> Database:
        return self._db

    def _lock(self, session: Session) -> list[SigningKeyRecord]:
        """Take the keys lock in this write transaction; every row."""
        if not self._db.is_sqlite:  # SQLite: the write transaction (BEGIN IMMEDIATE) is the lock
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _KEYS_LOCK})
        return list(session.scalars(select(SigningKeyRecord)))

    def _info(self, record: KeyRecord) -> KeyInfo:
        settings = self._settings
        return describe(record, self._clock(), settings.token_lifetime, settings.kid_style)

    def key_set(self) -> KeySet:
        with self._db.read() as session:
            return KeySet(_record(row) for row in session.scalars(select(SigningKeyRecord)))

    def describe(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        settings = self._settings
        return self.key_set().describe(self._clock(), settings.token_lifetime, settings.kid_style)

    def ensure_initial(self, initial: Callable[[], KeyMaterial]) -> KeySet:
        """The key set, with ``initial()`` stored as the active key if the set is empty (a new
        installation, or the first start after an upgrade: the data folder's key).

        Several processes starting at once on an empty set each make their own ``initial()``;
        the first to commit wins and the others use its key."""
        current = self.key_set()
        if len(current):
            return current
        material = initial()
        with self._db.write() as session:
            if not self._lock(session):
                now = self._clock()
                session.add(_new_row(material, KeyState.ACTIVE, now))
                log_change(session, KEYS_CHANGE, [material.thumbprint])
        return self.key_set()

    def add(self, material: KeyMaterial) -> KeyInfo:
        """A new key, published but not signing (signing at once if it is the first key)."""
        now = self._clock()
        with _as_account_errors(), self._db.write() as session:
            rows = self._lock(session)
            KeySet(_record(row) for row in rows).check_new(material.thumbprint)
            state = KeyState.PUBLISHED if rows else KeyState.ACTIVE
            row = _new_row(material, state, now)
            session.add(row)
            log_change(session, KEYS_CHANGE, [material.thumbprint])
            return self._info(_record(row))

    def activate(self, kid: str) -> KeyInfo:
        """Make the key ``kid`` names sign; the one signing until now stays published."""
        lifetime = self._settings.token_lifetime
        return self._change(kid, lambda key_set, now: key_set.activate(kid, now, lifetime))

    def retire(self, kid: str) -> KeyInfo:
        """Retire the key ``kid`` names: it is published until its last token has expired."""
        return self._change(kid, lambda key_set, now: key_set.retire(kid, now))

    def _change(
        self,
        kid: str,
        plan: Callable[[KeySet, datetime.datetime], Sequence[KeyRecord]],
    ) -> KeyInfo:
        now = self._clock()
        with _as_account_errors(), self._db.write() as session:
            rows = {row.id: row for row in self._lock(session)}
            key_set = KeySet(_record(row) for row in rows.values())
            target = key_set.find(kid)
            changes = plan(key_set, now)
            for record in changes:
                _store(rows[record.id], record)
            if changes:
                log_change(session, KEYS_CHANGE, [record.id for record in changes])
            return self._info(next((r for r in changes if r.id == target.id), target))


def _new_row(material: KeyMaterial, state: KeyState, now: datetime.datetime) -> SigningKeyRecord:
    return SigningKeyRecord(
        id=material.thumbprint,
        libtrust_kid=material.libtrust_kid,
        algorithm=material.algorithm,
        private_key=material.private_pem().decode("ascii"),
        certificate=material.chain_pem().decode("ascii"),
        state=str(state),
        created_at=now,
        activated_at=now if state is KeyState.ACTIVE else None,
    )
