"""Secrets regauth issues: robot secrets, personal access tokens and refresh tokens.

Each is 256 random bits behind a recognisable prefix (so secret scanners and people can tell
what leaked), shown once, and stored only as a SHA-256 hash: they are high-entropy, so a fast
hash is enough and lookups cost one indexed query, never a password hash.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = [
    "PAT_PREFIX",
    "REFRESH_PREFIX",
    "ROBOT_PREFIX",
    "ROBOT_USER_PREFIX",
    "hint",
    "new_secret",
    "robot_name_of",
    "secret_hash",
]

PAT_PREFIX = "regauth_pat_"
ROBOT_PREFIX = "regauth_robot_"
REFRESH_PREFIX = "regauth_rt_"
#: robots log in as ``robot+NAME`` (as Quay and GitLab deploy tokens use ``+``)
ROBOT_USER_PREFIX = "robot+"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hint(secret: str) -> str:
    """Enough of a secret to recognise it in a listing, not enough to use it."""
    return secret[: min(len(secret), 18)] + "..."


def robot_name_of(username: str) -> str | None:
    if username.startswith(ROBOT_USER_PREFIX):
        return username[len(ROBOT_USER_PREFIX) :]
    return None
