"""The admin API's JSON bodies: strict request models and the response shapes it documents.

Request models forbid unknown fields and coerce nothing (``strict``); their limits keep a
request small and its text printable. The response shapes exist for the OpenAPI document: the
routes answer with the account service's views (:mod:`regauth.accounts`) as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from regauth.accounts import RobotView, TokenView

__all__ = [
    "CreatedRobot",
    "CreatedToken",
    "ErrorBody",
    "GrantCreate",
    "GroupCreate",
    "ImportResult",
    "ImportedUser",
    "PasswordChange",
    "RobotCreate",
    "RobotGrant",
    "TokenCreate",
    "UserCreate",
    "UserImport",
    "UserUpdate",
]

# ------------------------------------------------------------------------------ request bodies

#: printable text: no control characters (PostgreSQL refuses NUL; logs and terminals the rest)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, Field(max_length=128)]
Password = Annotated[str, Field(max_length=1024, json_schema_extra={"format": "password"})]
Email = Annotated[str, Field(max_length=320, pattern=_PRINTABLE)]
Description = Annotated[str, Field(max_length=500, pattern=_PRINTABLE)]
Pattern = Annotated[str, Field(max_length=255, examples=["team/*"])]
Role = Literal["pull", "push", "delete", "admin"]
Action = Literal["pull", "push", "delete"]
ExpiresAt = Annotated[
    str,
    Field(
        max_length=64,
        description="ISO 8601 date or time; without a zone it is UTC",
        examples=["2027-01-31T00:00:00Z"],
    ),
]
ExpiresIn = Annotated[
    str, Field(max_length=32, description="a duration: 30d, 12h, 90m, 2w", examples=["90d"])
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Body):
    username: Name
    password: Password | None = None
    email: Email | None = None
    is_admin: bool = False
    enabled: bool = True


class UserUpdate(_Body):
    email: Email | None = Field(default=None, description='null or "" removes the address')
    is_admin: bool | None = None
    enabled: bool | None = None


class PasswordChange(_Body):
    password: Password


class ImportedUser(_Body):
    username: Name
    password_hash: Annotated[str, Field(max_length=255, pattern=_PRINTABLE)]


class UserImport(_Body):
    users: Annotated[list[ImportedUser], Field(max_length=10000)]
    replace: bool = False


class GroupCreate(_Body):
    name: Name
    description: Description | None = None


class GrantCreate(_Body):
    user: Name | None = None
    group: Name | None = None
    robot: Name | None = None
    public: bool = False
    pattern: Pattern
    role: Role


class RobotGrant(_Body):
    pattern: Pattern
    role: Role


class RobotCreate(_Body):
    name: Annotated[str, Field(max_length=64)]
    description: Description | None = None
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    grants: Annotated[list[RobotGrant], Field(max_length=100)] = []


class TokenCreate(_Body):
    user: Name
    name: Name
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    repositories: Annotated[list[Pattern], Field(max_length=100)] | None = None
    actions: Annotated[list[Action], Field(max_length=3)] | None = None


# ------------------------------------------------------- response shapes (the OpenAPI document)


class ErrorBody(BaseModel):
    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["no such user: 'alice'"])


@dataclass(frozen=True)
class CreatedRobot(RobotView):
    secret: str


@dataclass(frozen=True)
class CreatedToken(TokenView):
    secret: str


class ImportResult(BaseModel):
    created: list[str]
    skipped: list[str]
