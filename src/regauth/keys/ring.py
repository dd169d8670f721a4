"""The signing keys one process holds: the key it signs with and the keys it publishes.

A :class:`KeyRing` is made once per key set (at start, and again whenever another process
changes the keys) and is then read on every request: :attr:`KeyRing.active` signs, and
:meth:`KeyRing.jwks_json` answers ``GET /.well-known/jwks.json``. Which retired keys are still
published depends on the time, so the JWKS bytes are kept until the next moment a retired key
leaves, then made again.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from regauth.clock import Clock, utcnow
from regauth.keys.keyset import KeyRecord, KeySet, KeySetError
from regauth.keys.material import KeyMaterial
from regauth.keys.publish import bundle_pem, jwks_document
from regauth.keys.signing import SigningKey, signing_key

__all__ = ["KeyRing", "KeySettings", "record_signing_key"]


@dataclass(frozen=True)
class KeySettings:
    """What the configuration says about every key: the ``kid`` style, whether tokens carry
    ``x5c``, and how long a token lives (``token.expiration``)."""

    kid_style: str = "libtrust"
    x5c: bool = True
    token_lifetime: datetime.timedelta = datetime.timedelta(seconds=300)


def record_signing_key(record: KeyRecord, settings: KeySettings) -> SigningKey:
    material = KeyMaterial.from_pem(
        record.private_key.encode("ascii"),
        record.certificate.encode("ascii"),
        algorithm=record.algorithm,
        key_name=f"signing key {record.id}",
        chain_name=f"certificate of signing key {record.id}",
    )
    return signing_key(material, kid_style=settings.kid_style, x5c=settings.x5c)


class KeyRing:
    """The active key and the published ones, each with the time it stops being published."""

    def __init__(
        self,
        active: SigningKey,
        published: Sequence[tuple[SigningKey, datetime.datetime | None]] = (),
        *,
        key_set: KeySet | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._active = active
        others = [(k, until) for k, until in published if k.thumbprint_kid != active.thumbprint_kid]
        self._published: tuple[tuple[SigningKey, datetime.datetime | None], ...] = (
            (active, None),
            *others,
        )
        self._key_set = key_set
        self._clock = clock
        self._jwks: tuple[bytes, datetime.datetime | None] | None = None

    @classmethod
    def single(cls, key: SigningKey) -> KeyRing:
        """A configured key (``token.key``): it signs and is the only one published."""
        return cls(key)

    @classmethod
    def from_key_set(
        cls,
        key_set: KeySet,
        settings: KeySettings,
        *,
        clock: Clock = utcnow,
        known: Mapping[str, SigningKey] | None = None,
    ) -> KeyRing:
        """The ring for the managed keys; ``known`` keys (the previous ring's) are not parsed
        again. Raises :class:`KeySetError` when no key is active."""
        active_record = key_set.active
        if active_record is None:
            raise KeySetError(
                "no signing key is active: activate one with `regauth keys activate KID`"
            )
        known = known or {}

        def load(record: KeyRecord) -> SigningKey:
            key = known.get(record.id)
            if key is None or key.kid != record.kid(settings.kid_style):
                key = record_signing_key(record, settings)
            return key

        lifetime = settings.token_lifetime
        now = clock()
        # keys whose time is up are not even parsed: nothing but a change brings them back
        published = [
            (load(record), record.published_until(lifetime))
            for record in key_set.records
            if record.is_published(now, lifetime)
        ]
        return cls(load(active_record), published, key_set=key_set, clock=clock)

    @property
    def active(self) -> SigningKey:
        return self._active

    @property
    def key_set(self) -> KeySet | None:
        """The managed keys this ring was made from; None for a configured key."""
        return self._key_set

    def known_keys(self) -> dict[str, SigningKey]:
        """Every key of the ring by thumbprint (to make the next ring without parsing)."""
        return {key.thumbprint_kid: key for key, _ in self._published}

    def published(self, now: datetime.datetime | None = None) -> list[SigningKey]:
        """The keys to trust at ``now`` (default: the clock's now), the active one first."""
        moment = now if now is not None else self._clock()
        return [key for key, until in self._published if until is None or moment < until]

    def _next_change(self, now: datetime.datetime) -> datetime.datetime | None:
        upcoming = [until for _, until in self._published if until is not None and until > now]
        return min(upcoming) if upcoming else None

    def jwks_json(self) -> bytes:
        """The JWKS document of the keys published now; made again only when that changes."""
        now = self._clock()
        cached = self._jwks
        if cached is not None and (cached[1] is None or now < cached[1]):
            return cached[0]
        body = orjson.dumps(jwks_document(self.published(now)))
        self._jwks = (body, self._next_change(now))
        return body

    def bundle_pem(self) -> bytes:
        return bundle_pem(self.published())
