"""Credentials regauth issues and checks.

    issued     robot secrets, personal access tokens and refresh tokens: prefixes, random
               generation, SHA-256 digests for lookups
    passwords  password hashes (bcrypt, argon2id), verified off the event loop

The package face exports :mod:`issued` only; :mod:`passwords` imports bcrypt and argon2 and
is imported where it is needed.
"""

from regauth.credentials.issued import (
    PAT_PREFIX,
    REFRESH_PREFIX,
    ROBOT_PREFIX,
    ROBOT_USER_PREFIX,
    hint,
    new_secret,
    robot_name_of,
    secret_hash,
)

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
