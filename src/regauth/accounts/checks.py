"""The checks every account operation runs on its input before it writes anything.

Each ``check_*`` function returns the accepted value (or the normalised one: an empty email
is ``None``) and raises :class:`~regauth.accounts.errors.InvalidInput` with a sentence that
names the rule. The SSO backends reuse them on the names a directory or provider sends.
"""

from __future__ import annotations

import datetime
import re

from regauth.accounts.errors import InvalidInput
from regauth.patterns.repository import validate_repository_pattern

__all__ = [
    "ACTIONS",
    "MAX_DESCRIPTION",
    "MAX_PASSWORD",
    "ROLES",
    "check_description",
    "check_email",
    "check_expiry",
    "check_group_name",
    "check_new_name",
    "check_password",
    "check_pattern",
    "check_robot_name",
    "check_role",
    "check_token_name",
    "check_username",
]

ROLES = ("pull", "push", "delete", "admin")
ACTIONS = ("pull", "push", "delete")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
#: a repository path component (Distribution's grammar, with ``[-]*`` written ``-+``, which
#: matches the same names without the nested repetition that backtracks exponentially)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TOKEN_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}")
MAX_DESCRIPTION = 500
MAX_PASSWORD = 1024


def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            f"invalid username {username[:80]!r}: 1 to 128 letters, digits, '.', '_', '@' or '-'"
            ", starting with a letter or digit"
        )
    return username


def check_group_name(name: str) -> str:
    if (
        not name
        or len(name) > 128
        or name != name.strip()
        or any(ord(c) < 0x20 or c in ":\x7f" for c in name)
    ):
        raise InvalidInput(f"invalid group name {name[:80]!r}: 1 to 128 printable characters")
    return name


def check_new_name(kind: str, name: str, *, limit: int = 128) -> str:
    """A name an administrator gives a new user, group or robot: a lower-case repository path
    component, so that its namespace (``bob/*``, ``${labels:groups}/*``) can be used.

    Names a directory or an identity provider sends keep their own spelling
    (:func:`check_username`, :func:`check_group_name`), and so do names already stored.
    """
    if len(name) > limit or not _PATH_COMPONENT.fullmatch(name):
        raise InvalidInput(
            f"invalid {kind} {name[:80]!r}: 1 to {limit} lower-case letters and digits, "
            "separated by '.', '_', '__' or '-' (a repository path component)"
        )
    return name


def check_robot_name(name: str) -> str:
    return check_new_name("robot name", name, limit=64)


def check_token_name(name: str) -> str:
    if not _TOKEN_NAME.fullmatch(name):
        raise InvalidInput("the token name must have 1 to 128 printable characters")
    return name


def check_password(password: str) -> str:
    if not password:
        raise InvalidInput("the password must not be empty")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password must not be longer than {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"invalid role {role[:40]!r}: use one of {', '.join(ROLES)}")
    return role


def check_pattern(pattern: str) -> str:
    try:
        return validate_repository_pattern(pattern)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def check_email(email: str | None) -> str | None:
    if email is None or email == "":
        return None
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise InvalidInput(f"invalid email address {email[:80]!r}")
    return email


def check_description(description: str | None) -> str | None:
    if description is None:
        return None
    if len(description) > MAX_DESCRIPTION or any(
        (ord(c) < 0x20 and c not in "\t") or c == "\x7f" for c in description
    ):
        raise InvalidInput(
            f"invalid description: at most {MAX_DESCRIPTION} characters, no control characters"
        )
    return description


def check_expiry(expires_at: datetime.datetime | None, now: datetime.datetime) -> None:
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("the expiry needs a time zone (or use UTC with a Z)")
        if expires_at <= now:
            raise InvalidInput("the expiry must be in the future")
