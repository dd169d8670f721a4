"""The errors of the account operations, each carrying the HTTP status the admin API answers.

::

    AccountError (400)
    ├── InvalidInput (400)  a name, password, pattern, role, expiry... the checks refuse
    ├── NotFound (404)      no such user, group, robot, grant or token
    └── Conflict (409)      already exists, the last administrator, a name of another source
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["AccountError", "Conflict", "InvalidInput", "NotFound"]


class AccountError(Exception):
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AccountError):
    status = 400


class NotFound(AccountError):
    status = 404


class Conflict(AccountError):
    status = 409
