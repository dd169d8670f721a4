"""Signing keys as plain values: the registry 3.1 zero-byte check, key material, the rotation
rules of a key set, and the key ring a process publishes (with a clock of the test's own)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regauth.keys import (
    LEEWAY,
    AmbiguousKey,
    KeyError_,
    KeyMaterial,
    KeyRecord,
    KeyRing,
    KeySet,
    KeySetError,
    KeySettings,
    KeyState,
    RotationRefused,
    UnknownKey,
    generate_private_key,
    leading_zero_coordinate,
    public_jwk,
    self_signed_certificate,
    write_trust_files,
)
from regauth.keys import material as material_module
from regauth.protocol.keyid import jwk_thumbprint

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
LIFETIME = datetime.timedelta(seconds=300)
SETTINGS = KeySettings(kid_style="libtrust", x5c=True, token_lifetime=LIFETIME)


def p256(secret: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(secret, ec.SECP256R1())


# secrets whose public point has a coordinate below 2**248 (found by counting up from 1)
X_STARTS_WITH_ZERO = 379
Y_STARTS_WITH_ZERO = 43


# ---------------------------------------------------------------- the registry 3.1 zero bytes


def test_leading_zero_coordinates_are_found() -> None:
    for secret, coordinate in ((X_STARTS_WITH_ZERO, "x"), (Y_STARTS_WITH_ZERO, "y")):
        key = p256(secret)
        numbers = key.public_key().public_numbers()
        assert getattr(numbers, coordinate) < 2**248  # the constructed key is what we say
        assert leading_zero_coordinate(key)
        # the JWK keeps the zero byte (32 bytes), so its thumbprint is not what 3.1 computes
        jwk = public_jwk(key)
        raw = jwt.utils.base64url_decode(jwk[coordinate])
        assert len(raw) == 32 and raw[0] == 0
    assert not leading_zero_coordinate(p256(1))
    assert not leading_zero_coordinate(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def test_generated_keys_never_have_a_leading_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    offered = [p256(X_STARTS_WITH_ZERO), p256(Y_STARTS_WITH_ZERO), p256(1)]
    monkeypatch.setattr(material_module.ec, "generate_private_key", lambda _curve: offered.pop(0))
    key = generate_private_key("ES256")
    assert not offered  # the two bad ones were thrown away
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.private_numbers().private_value == 1


# ---------------------------------------------------------------------------- key material


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return self_signed_certificate(key).public_bytes(serialization.Encoding.PEM)


def test_material_from_pem_checks_the_pair_and_the_algorithm() -> None:
    key = p256(7)
    material = KeyMaterial.from_pem(pem(key), cert_pem(key))
    assert material.algorithm == "ES256"
    assert material.thumbprint == jwk_thumbprint(public_jwk(key))
    assert len(material.libtrust_kid) == 59
    # without a certificate: a self-signed one for the key
    assert KeyMaterial.from_pem(pem(key), None).chain[0].public_key() == key.public_key()
    problems = {
        "not a key": lambda: KeyMaterial.from_pem(b"garbage", None),
        "P-384": lambda: KeyMaterial.from_pem(pem(ec.generate_private_key(ec.SECP384R1())), None),
        "other cert": lambda: KeyMaterial.from_pem(pem(key), cert_pem(p256(8))),
        "no cert": lambda: KeyMaterial.from_pem(pem(key), b"-----BEGIN NOTHING-----"),
        "RS256 wanted": lambda: KeyMaterial.from_pem(pem(key), None, algorithm="RS256"),
    }
    for name, attempt in problems.items():
        with pytest.raises(KeyError_) as caught:
            attempt()
        assert caught.value.key in ("key", "certificate"), name


def test_generated_material_round_trips_through_pem() -> None:
    for algorithm in ("ES256", "RS256"):
        made = KeyMaterial.generate(algorithm)
        again = KeyMaterial.from_pem(made.private_pem(), made.chain_pem(), algorithm=algorithm)
        assert again.thumbprint == made.thumbprint
        assert again.libtrust_kid == made.libtrust_kid


# ------------------------------------------------------------------------------- key sets

_MATERIAL = [KeyMaterial.from_pem(pem(p256(n)), cert_pem(p256(n))) for n in (11, 12, 13)]


def record(
    index: int, state: KeyState, created: int = 0, **times: datetime.datetime | None
) -> KeyRecord:
    material = _MATERIAL[index]
    return KeyRecord(
        id=material.thumbprint,
        libtrust_kid=material.libtrust_kid,
        algorithm="ES256",
        private_key=material.private_pem().decode(),
        certificate=material.chain_pem().decode(),
        state=state,
        created_at=T0 + datetime.timedelta(seconds=created),
        **times,
    )


def test_find_by_thumbprint_libtrust_id_or_unique_prefix() -> None:
    keys = KeySet([record(0, KeyState.ACTIVE), record(1, KeyState.PUBLISHED, 1)])
    first = keys.records[0]
    assert keys.find(first.id) is first
    assert keys.find(first.libtrust_kid.lower()) is first
    assert keys.find(first.id[:6]) is first
    assert keys.find(first.libtrust_kid[:9]) is first
    assert keys.find(f"  {first.id}  ") is first
    with pytest.raises(AmbiguousKey, match="at least 4"):
        keys.find(first.id[:3])
    with pytest.raises(AmbiguousKey, match="give a key ID"):
        keys.find(" ")
    with pytest.raises(UnknownKey):
        keys.find("nothing-like-it")
    # a prefix two keys share is refused with both named
    twins = KeySet(
        [
            dataclasses.replace(record(0, KeyState.ACTIVE), id="abcdEFGH1"),
            dataclasses.replace(record(1, KeyState.PUBLISHED), id="abcdXYZ2"),
        ]
    )
    with pytest.raises(AmbiguousKey, match="names 2 keys"):
        twins.find("abcd")
    assert twins.find("abcdX").id == "abcdXYZ2"


def test_rotation_add_activate_retire() -> None:
    old = record(0, KeyState.ACTIVE, activated_at=T0)
    new = record(1, KeyState.PUBLISHED, 10)
    keys = KeySet([old, new])
    assert keys.active == old
    assert [r.id for r in keys.published(T0, LIFETIME)] == [old.id, new.id]

    switch = T0 + datetime.timedelta(minutes=5)
    changes = {r.id: r for r in keys.activate(new.id, switch, LIFETIME)}
    assert changes[new.id].state is KeyState.ACTIVE and changes[new.id].activated_at == switch
    assert changes[old.id].state is KeyState.PUBLISHED
    assert changes[old.id].deactivated_at == switch
    keys = KeySet(changes.values())
    assert keys.active is not None and keys.active.id == new.id
    assert keys.activate(new.id, switch, LIFETIME) == []  # already signing: nothing changes

    with pytest.raises(RotationRefused, match="active signing key"):
        keys.retire(new.id, switch)
    retired_at = switch + datetime.timedelta(seconds=30)
    (retired,) = keys.retire(old.id, retired_at)
    assert retired.state is KeyState.RETIRED and retired.retired_at == retired_at
    # published until its last token (signed at the switch at the latest) has expired
    until = switch + LIFETIME + LEEWAY
    assert retired.published_until(LIFETIME) == until
    keys = KeySet([retired, keys.records[1]])
    assert [r.id for r in keys.published(until - datetime.timedelta(seconds=1), LIFETIME)] == [
        new.id,
        old.id,
    ]
    assert [r.id for r in keys.published(until, LIFETIME)] == [new.id]
    assert keys.retire(old.id, until) == []  # already retired: nothing changes


def test_retiring_late_or_unused_keys_unpublishes_at_once() -> None:
    unused = record(0, KeyState.PUBLISHED)
    (retired,) = KeySet([unused]).retire(unused.id, T0)
    assert retired.published_until(LIFETIME) == T0  # it never signed anything
    long_ago = record(1, KeyState.PUBLISHED, deactivated_at=T0 - datetime.timedelta(days=1))
    (late,) = KeySet([long_ago]).retire(long_ago.id, T0)
    assert late.published_until(LIFETIME) == T0
    assert not late.is_published(T0, LIFETIME)


def test_a_retired_key_signs_again_only_while_published() -> None:
    active = record(0, KeyState.ACTIVE, activated_at=T0)
    retired = record(
        1, KeyState.RETIRED, deactivated_at=T0, retired_at=T0, activated_at=T0
    )  # just rotated away from
    keys = KeySet([active, retired])
    soon = T0 + datetime.timedelta(seconds=10)
    changed = {r.id: r for r in keys.activate(retired.id, soon, LIFETIME)}
    assert changed[retired.id].state is KeyState.ACTIVE
    assert changed[retired.id].retired_at is None and changed[retired.id].deactivated_at is None
    later = T0 + LIFETIME + LEEWAY
    with pytest.raises(RotationRefused, match="no longer published"):
        keys.activate(retired.id, later, LIFETIME)


def test_two_active_keys_resolve_to_the_latest_activation_everywhere() -> None:
    first = record(0, KeyState.ACTIVE, activated_at=T0)
    second = record(1, KeyState.ACTIVE, activated_at=T0 + datetime.timedelta(seconds=1))
    assert KeySet([first, second]).active == second
    assert KeySet([second, first]).active == second
    # activating either cleans up: the other stops being active
    changes = KeySet([first, second]).activate(first.id, T0, LIFETIME)
    assert {r.id: r.state for r in changes} == {
        first.id: KeyState.ACTIVE,
        second.id: KeyState.PUBLISHED,
    }


def test_adding_a_key_twice_is_refused() -> None:
    keys = KeySet([record(0, KeyState.ACTIVE)])
    keys.check_new(_MATERIAL[1].thumbprint)
    with pytest.raises(RotationRefused, match="already in the key set"):
        keys.check_new(_MATERIAL[0].thumbprint)


def test_describe_shows_no_private_part() -> None:
    keys = KeySet([record(0, KeyState.ACTIVE, activated_at=T0)])
    (info,) = keys.describe(T0, LIFETIME, "thumbprint")
    shown = json.dumps(info.as_dict())
    assert info.kid == info.thumbprint
    assert "PRIVATE" not in shown and "BEGIN" not in shown
    assert info.as_dict()["created_at"] == "2030-01-01T00:00:00Z"
    assert info.published and info.published_until is None
    assert info.certificate_expires_at > T0


# ------------------------------------------------------------------------------- key rings


class FakeClock:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


def test_key_ring_publishes_by_the_clock_and_reuses_parsed_keys() -> None:
    switch = T0 + datetime.timedelta(minutes=1)
    keys = KeySet(
        [
            record(0, KeyState.RETIRED, activated_at=T0, deactivated_at=switch, retired_at=switch),
            record(1, KeyState.ACTIVE, 1, activated_at=switch),
            record(2, KeyState.PUBLISHED, 2),
        ]
    )
    clock = FakeClock(switch)
    ring = KeyRing.from_key_set(keys, SETTINGS, clock=clock)
    assert ring.active.thumbprint_kid == _MATERIAL[1].thumbprint
    jwks = json.loads(ring.jwks_json())
    assert [k["kid"] for k in jwks["keys"]] == [
        m.libtrust_kid for m in (_MATERIAL[1], _MATERIAL[0], _MATERIAL[2])
    ]
    assert ring.jwks_json() is ring.jwks_json()  # cached while nothing can change
    assert ring.bundle_pem().count(b"BEGIN CERTIFICATE") == 3

    clock.now = switch + LIFETIME + LEEWAY  # the retired key's last token has expired
    assert [k["kid"] for k in json.loads(ring.jwks_json())["keys"]] == [
        _MATERIAL[1].libtrust_kid,
        _MATERIAL[2].libtrust_kid,
    ]
    assert ring.bundle_pem().count(b"BEGIN CERTIFICATE") == 2

    # the next ring reuses the parsed keys; one made after the time is up leaves it out
    again = KeyRing.from_key_set(keys, SETTINGS, clock=clock, known=ring.known_keys())
    assert again.active is ring.active
    assert len(again.published()) == 2


def test_key_ring_needs_an_active_key() -> None:
    with pytest.raises(KeySetError, match="no signing key is active"):
        KeyRing.from_key_set(KeySet([record(0, KeyState.PUBLISHED)]), SETTINGS)


def test_key_ring_kid_and_x5c_follow_the_settings() -> None:
    keys = KeySet([record(0, KeyState.ACTIVE, activated_at=T0)])
    ring = KeyRing.from_key_set(
        keys, KeySettings(kid_style="thumbprint", x5c=False, token_lifetime=LIFETIME)
    )
    header = ring.active.signer.header
    assert header["kid"] == _MATERIAL[0].thumbprint and "x5c" not in header


def test_trust_files_written_by_many_at_once_stay_whole(tmp_path: Path) -> None:
    ring = KeyRing.from_key_set(
        KeySet([record(0, KeyState.ACTIVE), record(1, KeyState.PUBLISHED, 1)]), SETTINGS
    )
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(20):
                write_trust_files(ring.published(), tmp_path)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.pem", "jwks.json"]
    assert (tmp_path / "bundle.pem").read_bytes() == ring.bundle_pem()
    assert len(json.loads((tmp_path / "jwks.json").read_text())["keys"]) == 2
    assert (tmp_path / "bundle.pem").stat().st_mode & 0o777 == 0o644
