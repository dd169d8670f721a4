"""Signing keys: load, generate, rotate, publish. Pure: no storage, no configuration objects.

    material  a private key and its certificate chain: generate, parse, check (and the
              registry 3.1 leading-zero problem of some EC keys)
    signing   a key ready to sign: both key IDs and the protected header of its tokens
    files     key files: read, write atomically, certify a key given without a certificate
    publish   the certificate bundle and the JWKS document the registry trusts
    keyset    the managed keys' states (published, active, retired) and rotation rules
    ring      what one process signs with and publishes, kept up to date with the key set

Where the managed keys are stored: :mod:`regauth.accounts.signing_keys` (the database, shared
by every instance); which keys a configuration uses: :mod:`regauth.keyring`.
"""

from regauth.keys.files import (
    GENERATED_CERT,
    GENERATED_KEY,
    generate_key_pair,
    load_signing_key,
    read_material,
    write_public,
    write_self_signed_certificate,
)
from regauth.keys.keyset import (
    LEEWAY,
    AmbiguousKey,
    KeyInfo,
    KeyRecord,
    KeySet,
    KeySetError,
    KeyState,
    RotationRefused,
    UnknownKey,
)
from regauth.keys.material import (
    ALGORITHMS,
    KeyError_,
    KeyMaterial,
    PrivateKey,
    generate_private_key,
    leading_zero_coordinate,
    public_jwk,
    self_signed_certificate,
)
from regauth.keys.publish import (
    BUNDLE_FILE,
    JWKS_FILE,
    bundle_pem,
    jwks_document,
    write_trust_files,
)
from regauth.keys.ring import KeyRing, KeySettings
from regauth.keys.signing import SigningKey, signing_key

__all__ = [
    "ALGORITHMS",
    "BUNDLE_FILE",
    "GENERATED_CERT",
    "GENERATED_KEY",
    "JWKS_FILE",
    "LEEWAY",
    "AmbiguousKey",
    "KeyError_",
    "KeyInfo",
    "KeyMaterial",
    "KeyRecord",
    "KeyRing",
    "KeySet",
    "KeySetError",
    "KeySettings",
    "KeyState",
    "PrivateKey",
    "RotationRefused",
    "SigningKey",
    "UnknownKey",
    "bundle_pem",
    "generate_key_pair",
    "generate_private_key",
    "jwks_document",
    "leading_zero_coordinate",
    "load_signing_key",
    "public_jwk",
    "read_material",
    "self_signed_certificate",
    "signing_key",
    "write_public",
    "write_self_signed_certificate",
    "write_trust_files",
]
