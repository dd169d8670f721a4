"""Password hashes: bcrypt (htpasswd, docker_auth), PBKDF2 (Keycloak) and argon2id (new hashes).

Keycloak's PBKDF2 hashes are kept in the PHC string form
``$pbkdf2-sha256$i=27500$SALT$HASH`` (salt and derived key in base64 without padding; the
derived key's length is the one Keycloak used). They are only ever imported, verified once and
then replaced by argon2id, as bcrypt hashes from an import are.

Verification is CPU-bound by design; callers run it off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "DEFAULT_BCRYPT_COST",
    "bcrypt_cost",
    "dummy_argon2",
    "dummy_hash_like",
    "encode_pbkdf2",
    "hash_password_argon2",
    "hash_password_bcrypt",
    "is_importable_hash",
    "is_supported_hash",
    "make_dummy_hash",
    "verify_password",
]

DEFAULT_BCRYPT_COST = 10
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_ARGON2ID = re.compile(r"\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")
# OWASP's argon2id parameters (19 MiB, 2 passes, 1 lane): about 20 ms here, and a bounded
# amount of memory per concurrent check, unlike argon2-cffi's 64 MiB default
_argon2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


_PBKDF2 = re.compile(
    r"\$pbkdf2-(sha1|sha256|sha512)\$i=([1-9][0-9]{0,7})\$([A-Za-z0-9+/]{4,512})\$([A-Za-z0-9+/]{16,512})"
)
#: more would make one login a denial of service; Keycloak's defaults are 27,500 to 210,000
MAX_PBKDF2_ITERATIONS = 10_000_000


def is_supported_hash(encoded: str) -> bool:
    """A hash regauth keeps as it is: bcrypt or argon2id."""
    return bool(_BCRYPT.fullmatch(encoded) or _ARGON2ID.fullmatch(encoded))


def is_importable_hash(encoded: str) -> bool:
    """A hash an import may bring: bcrypt, argon2id, or PBKDF2 (replaced at the next login)."""
    return is_supported_hash(encoded) or _pbkdf2_parts(encoded) is not None


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _pbkdf2_parts(encoded: str) -> tuple[str, int, bytes, bytes] | None:
    match = _PBKDF2.fullmatch(encoded)
    if match is None or int(match.group(2)) > MAX_PBKDF2_ITERATIONS:
        return None
    try:
        salt, derived = _b64decode(match.group(3)), _b64decode(match.group(4))
    except (binascii.Error, ValueError):
        return None
    return match.group(1), int(match.group(2)), salt, derived


def encode_pbkdf2(digest: str, iterations: int, salt: bytes, derived: bytes) -> str:
    """The PHC string of a PBKDF2 hash (``digest``: sha1, sha256 or sha512)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    encoded = f"$pbkdf2-{digest}$i={iterations}${b64(salt)}${b64(derived)}"
    if _pbkdf2_parts(encoded) is None:
        raise ValueError("not a PBKDF2 hash regauth can verify")
    return encoded


def bcrypt_cost(encoded: str) -> int | None:
    match = _BCRYPT.fullmatch(encoded)
    return int(match.group(1)) if match else None


def verify_password(encoded: str, password: bytes) -> bool:
    """True when ``password`` matches ``encoded``; False for a mismatch or an unknown format."""
    if _BCRYPT.fullmatch(encoded):
        # bcrypt only looks at the first 72 bytes, as Go's and Apache's implementations do
        try:
            return bcrypt.checkpw(password[:72], encoded.encode("ascii"))
        except ValueError:
            return False
    if encoded.startswith("$argon2id$"):
        try:
            return _argon2.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False
    parts = _pbkdf2_parts(encoded)
    if parts is not None:
        digest, iterations, salt, derived = parts
        computed = hashlib.pbkdf2_hmac(digest, password, salt, iterations, len(derived))
        return hmac.compare_digest(computed, derived)
    return False


def hash_password_bcrypt(password: bytes, cost: int = DEFAULT_BCRYPT_COST) -> str:
    if not 4 <= cost <= 31:
        raise ValueError("bcrypt cost must be between 4 and 31")
    return bcrypt.hashpw(password[:72], bcrypt.gensalt(rounds=cost)).decode("ascii")


def hash_password_argon2(password: bytes) -> str:
    return _argon2.hash(password)


def make_dummy_hash(cost: int = DEFAULT_BCRYPT_COST) -> str:
    """A hash of a random password, verified for unknown users so they cost as much as known."""
    return hash_password_bcrypt(secrets.token_bytes(16), cost)


def dummy_hash_like(hashes: list[str]) -> str | None:
    """A stand-in as costly as the costliest of ``hashes`` (the same kind and cost): argon2id
    with regauth's parameters if any is argon2id, else bcrypt at the highest cost; None for
    no hashes."""
    if any(h.startswith("$argon2id$") for h in hashes):
        return dummy_argon2()
    costs = [c for c in (bcrypt_cost(h) for h in hashes) if c is not None]
    return make_dummy_hash(max(costs)) if costs else None


@functools.cache
def dummy_argon2() -> str:
    """The stand-in for argon2id accounts (the parameters every new hash gets), made once."""
    return hash_password_argon2(secrets.token_bytes(16))


_executor: ThreadPoolExecutor | None = None


def _hashing_executor() -> ThreadPoolExecutor:
    """Threads for password hashing: as many as cores (the work is CPU-bound), which also
    bounds how much argon2 memory is in use at once."""
    global _executor  # noqa: PLW0603 - one pool per process, created on first use
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="regauth-hash"
        )
    return _executor


async def verify_password_off_loop(encoded: str, password: bytes) -> bool:
    """Verify in a worker thread so a slow hash never stalls the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing_executor(), verify_password, encoded, password)
