"""The managed signing keys and the rules of rotating them, as plain values (no storage).

Every key is in one of three states:

* ``published``: in the certificate bundle and the JWKS, not signing (a key added for the next
  rotation, or one that signed before another was activated);
* ``active``: signing every token, and published; exactly one key is active;
* ``retired``: no longer wanted; it stays published until no token it signed can still be
  valid (it stopped signing at ``deactivated_at``, its last tokens expire ``token.expiration``
  later and the registry accepts them for :data:`LEEWAY` beyond), then it is left out.

A rotation without a failed pull is: add (published), let every registry read the new bundle,
activate (signing switches, the old key stays published), wait, retire the old key. Whether a
retired key is still published is computed from the time and the token lifetime whenever it is
asked, so nothing has to run when a key's time is up.

A key is named by any unambiguous form of its ID: its RFC 7638 thumbprint (how it is stored),
its libtrust ID (what registry 2.x knows it by; any letter case), or a unique prefix of at
least :data:`MIN_PREFIX` characters of either.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

__all__ = [
    "LEEWAY",
    "MIN_PREFIX",
    "AmbiguousKey",
    "KeyInfo",
    "KeyRecord",
    "KeySet",
    "KeySetError",
    "KeyState",
    "RotationRefused",
    "UnknownKey",
]

#: how long after its ``exp`` the registry still accepts a token (Distribution's leeway)
LEEWAY = datetime.timedelta(seconds=60)
#: the fewest characters a key ID prefix must have
MIN_PREFIX = 4


class KeyState(enum.StrEnum):
    PUBLISHED = "published"
    ACTIVE = "active"
    RETIRED = "retired"


class KeySetError(Exception):
    """A key operation that cannot be done; the message says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownKey(KeySetError):
    """No key has that ID or prefix."""


class AmbiguousKey(KeySetError):
    """The ID is empty, too short a prefix, or a prefix of several keys."""


class RotationRefused(KeySetError):
    """The key set's state forbids it: retiring the active key, activating one no longer
    published, adding a key twice."""


@dataclass(frozen=True)
class KeyRecord:
    """One stored key, as the database holds it (``signing_keys``)."""

    #: the RFC 7638 thumbprint
    id: str
    libtrust_kid: str
    algorithm: str
    #: PEM (PKCS#8, unencrypted)
    private_key: str
    #: PEM certificate chain, leaf first
    certificate: str
    state: KeyState
    created_at: datetime.datetime
    activated_at: datetime.datetime | None = None
    #: when it last stopped signing (another key was activated)
    deactivated_at: datetime.datetime | None = None
    retired_at: datetime.datetime | None = None

    def kid(self, kid_style: str) -> str:
        """The ``kid`` its tokens carry with ``token.kid: kid_style``."""
        return self.libtrust_kid if kid_style == "libtrust" else self.id

    def published_until(self, lifetime: datetime.timedelta) -> datetime.datetime | None:
        """When it leaves the bundle and the JWKS; None while it is not retired.

        A retired key that once signed stays until its last token (signed at the latest when
        it was deactivated) has expired with the registry's leeway; one that never signed
        leaves when it is retired."""
        if self.state is not KeyState.RETIRED:
            return None
        retired = self.retired_at or self.created_at
        if self.deactivated_at is None:
            return retired
        return max(retired, self.deactivated_at + lifetime + LEEWAY)

    def is_published(self, now: datetime.datetime, lifetime: datetime.timedelta) -> bool:
        until = self.published_until(lifetime)
        return until is None or now < until


@dataclass(frozen=True)
class KeyInfo:
    """What ``regauth keys list`` and ``GET /api/v1/keys`` show of a key: never the private
    part."""

    #: the ``kid`` its tokens carry (per ``token.kid``)
    kid: str
    thumbprint: str
    libtrust_kid: str
    algorithm: str
    state: str
    created_at: datetime.datetime
    activated_at: datetime.datetime | None
    deactivated_at: datetime.datetime | None
    retired_at: datetime.datetime | None
    #: in bundle.pem and jwks.json now
    published: bool
    #: when a retired key leaves them (None: not retired)
    published_until: datetime.datetime | None
    certificate_expires_at: datetime.datetime

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, datetime.datetime):
                value = value.isoformat().replace("+00:00", "Z")
            result[field.name] = value
        return result


def _certificate_expiry(record: KeyRecord) -> datetime.datetime:
    leaf = x509.load_pem_x509_certificates(record.certificate.encode("ascii"))[0]
    return leaf.not_valid_after_utc


class KeySet:
    """The stored keys at one moment, and what each operation would change."""

    def __init__(self, records: Iterable[KeyRecord]) -> None:
        self._records = tuple(sorted(records, key=lambda r: (r.created_at, r.id)))

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        """Oldest first."""
        return self._records

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, thumbprint: object) -> bool:
        return any(r.id == thumbprint for r in self._records)

    @property
    def active(self) -> KeyRecord | None:
        """The signing key. Should two ever be marked active (two activations racing on a
        database without the lock), every process picks the same one: the latest activated."""
        active = [r for r in self._records if r.state is KeyState.ACTIVE]
        if not active:
            return None
        epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        return max(active, key=lambda r: (r.activated_at or epoch, r.id))

    def published(self, now: datetime.datetime, lifetime: datetime.timedelta) -> list[KeyRecord]:
        """The keys to trust at ``now``: the active one first, then the others, oldest first."""
        active = self.active
        rest = [r for r in self._records if r is not active and r.is_published(now, lifetime)]
        return [active, *rest] if active is not None else rest

    def find(self, text: str) -> KeyRecord:
        """The key ``text`` names: a thumbprint, a libtrust ID, or a unique prefix of one."""
        wanted = text.strip()
        if not wanted:
            raise AmbiguousKey("give a key ID (see `regauth keys list`)")
        upper = wanted.upper()
        for record in self._records:
            if wanted == record.id or upper == record.libtrust_kid:
                return record
        shown = wanted[:80]
        if len(wanted) < MIN_PREFIX:
            raise AmbiguousKey(
                f"key ID {shown!r} is too short: give at least {MIN_PREFIX} characters"
            )
        matches = [
            r for r in self._records if r.id.startswith(wanted) or r.libtrust_kid.startswith(upper)
        ]
        if not matches:
            raise UnknownKey(f"no signing key has the ID {shown!r}")
        if len(matches) > 1:
            names = ", ".join(r.id for r in matches[:5])
            raise AmbiguousKey(f"key ID {shown!r} names {len(matches)} keys ({names}): give more")
        return matches[0]

    def activate(
        self, text: str, now: datetime.datetime, lifetime: datetime.timedelta
    ) -> list[KeyRecord]:
        """The records that change when the key ``text`` names starts signing: it, and the key
        that signed until now (published still, ``deactivated_at`` now). Empty if it already
        signs. A retired key may sign again only while it is still published."""
        target = self.find(text)
        if target.state is KeyState.ACTIVE and target is self.active:
            return []
        if target.state is KeyState.RETIRED and not target.is_published(now, lifetime):
            raise RotationRefused(
                f"key {target.id} is retired and no longer published, so registries no longer "
                "trust it: add a new key instead"
            )
        changed = [
            dataclasses.replace(
                target,
                state=KeyState.ACTIVE,
                activated_at=now,
                deactivated_at=None,
                retired_at=None,
            )
        ]
        for record in self._records:
            if record.state is KeyState.ACTIVE and record.id != target.id:
                changed.append(
                    dataclasses.replace(record, state=KeyState.PUBLISHED, deactivated_at=now)
                )
        return changed

    def retire(self, text: str, now: datetime.datetime) -> list[KeyRecord]:
        """The record that changes when the key ``text`` names is retired; empty if it already
        is. The active key cannot be retired."""
        target = self.find(text)
        if target.state is KeyState.RETIRED:
            return []
        if target.state is KeyState.ACTIVE:
            raise RotationRefused(
                f"key {target.id} is the active signing key: activate another key first"
            )
        return [dataclasses.replace(target, state=KeyState.RETIRED, retired_at=now)]

    def check_new(self, thumbprint: str) -> None:
        """Refuse a key that is already in the set."""
        for record in self._records:
            if record.id == thumbprint:
                raise RotationRefused(
                    f"key {thumbprint} is already in the key set ({record.state})"
                )

    def describe(
        self, now: datetime.datetime, lifetime: datetime.timedelta, kid_style: str
    ) -> list[KeyInfo]:
        """Every key, oldest first, as ``keys list`` shows it."""
        return [describe(record, now, lifetime, kid_style) for record in self._records]


def describe(
    record: KeyRecord, now: datetime.datetime, lifetime: datetime.timedelta, kid_style: str
) -> KeyInfo:
    return KeyInfo(
        kid=record.kid(kid_style),
        thumbprint=record.id,
        libtrust_kid=record.libtrust_kid,
        algorithm=record.algorithm,
        state=str(record.state),
        created_at=record.created_at,
        activated_at=record.activated_at,
        deactivated_at=record.deactivated_at,
        retired_at=record.retired_at,
        published=record.is_published(now, lifetime),
        published_until=record.published_until(lifetime),
        certificate_expires_at=_certificate_expiry(record),
    )


def updated(records: Sequence[KeyRecord], changes: Sequence[KeyRecord]) -> KeySet:
    """The key set after ``changes`` (records with the same IDs, new values)."""
    by_id = {r.id: r for r in records}
    by_id.update((c.id, c) for c in changes)
    return KeySet(by_id.values())
