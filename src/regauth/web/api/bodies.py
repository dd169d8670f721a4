"""The admin API's JSON bodies: strict request models and the response shapes it documents.

Request models forbid unknown fields and coerce nothing (``strict``); their limits keep a
request small and its text printable. The response shapes exist for the OpenAPI document: the
routes answer with the account service's views (:mod:`regauth.accounts`) as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

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
    "RobotFederation",
    "RobotGrant",
    "TokenCreate",
    "UserCreate",
    "UserImport",
    "UserUpdate",
]

# ------------------------------------------------------------------------------ request bodies

#: printable text: no control characters (PostgreSQL refuses NUL; logs and terminals the rest)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


def _documented(**schema: Any) -> dict[str, Any]:
    """Constraints for the OpenAPI document only: the account checks enforce them with their
    own sentences (``invalid username 'x': ...``), which pydantic's would replace."""
    return {"json_schema_extra": schema}


#: the rules of :mod:`regauth.accounts.checks`, in the document: a name an existing user,
#: group or robot may have (given to look one up)
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
ROBOT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
#: the name of a new user, group or robot: a lower-case repository path component
NEW_NAME_PATTERN = r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"
#: 1 to 128 printable characters, no ':', no space at either end
GROUP_NAME_PATTERN = r"^[^\s:\x00-\x1f\x7f]([^:\x00-\x1f\x7f]{0,126}[^\s:\x00-\x1f\x7f])?$"
TOKEN_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"  # noqa: S105 - a token name's rule
#: :func:`regauth.patterns.repository.validate_repository_pattern`: no '//'
REPOSITORY_PATTERN = r"^[a-z0-9*?][a-z0-9._*?:-]*(/[a-z0-9._*?:-]+)*/?$"
EMAIL_PATTERN = r"^([^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255})?$"
DURATION_PATTERN = r"^[0-9]{1,12}[ ]?[smhdw]?$"
_BCRYPT = r"\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}"
_ARGON2ID = r"\$argon2id\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
HASH_PATTERN = f"^({_BCRYPT}|{_ARGON2ID})$"

Username = Annotated[str, Field(max_length=128, **_documented(pattern=USERNAME_PATTERN))]
GroupName = Annotated[
    str, Field(max_length=128, **_documented(minLength=1, pattern=GROUP_NAME_PATTERN))
]
RobotName = Annotated[str, Field(max_length=64, **_documented(pattern=ROBOT_NAME_PATTERN))]
NewUsername = Annotated[str, Field(max_length=128, **_documented(pattern=NEW_NAME_PATTERN))]
NewGroupName = Annotated[str, Field(max_length=128, **_documented(pattern=NEW_NAME_PATTERN))]
NewRobotName = Annotated[str, Field(max_length=64, **_documented(pattern=NEW_NAME_PATTERN))]
TokenName = Annotated[str, Field(max_length=128, **_documented(pattern=TOKEN_NAME_PATTERN))]
Password = Annotated[
    str, Field(max_length=1024, json_schema_extra={"format": "password", "minLength": 1})
]
Email = Annotated[
    str,
    Field(max_length=320, pattern=_PRINTABLE, **_documented(pattern=EMAIL_PATTERN)),
]
Description = Annotated[str, Field(max_length=500, pattern=_PRINTABLE)]
Pattern = Annotated[
    str,
    Field(
        max_length=255, examples=["team/*"], **_documented(minLength=1, pattern=REPOSITORY_PATTERN)
    ),
]
Role = Literal["pull", "push", "delete", "admin"]
Action = Literal["pull", "push", "delete"]
ExpiresAt = Annotated[
    str,
    Field(
        max_length=64,
        description="ISO 8601 date or time (2027-01-31 is taken too); without a zone it is "
        "UTC. It must lie in the future, at most 100 years ahead (else 400 naming the field)",
        examples=["2027-01-31T00:00:00Z"],
        json_schema_extra={"format": "date-time"},
    ),
]
ExpiresIn = Annotated[
    str,
    Field(
        max_length=32,
        description="a duration from now: 30d, 12h, 90m, 2w or seconds; more than 0 and at "
        "most 36500d (else 400 naming the field)",
        examples=["90d"],
        json_schema_extra={"minLength": 1, "pattern": DURATION_PATTERN},
    ),
]
Expires = Annotated[
    str,
    Field(
        max_length=64,
        description="as the CLI's --expires: a duration (30d, 12h, 90m), a date or time "
        "(2027-01-31), or never; in the future, at most 100 years ahead (else 400)",
        examples=["30d"],
        json_schema_extra={"minLength": 1},
    ),
]
_EXPIRIES = ("expires", "expires_at", "expires_in")
#: expires, expires_at and expires_in are alternatives: a body may give one of them
_ONE_EXPIRY: dict[str, Any] = {
    "not": {
        "anyOf": [
            {
                "required": [first, second],
                "properties": {first: {"type": "string"}, second: {"type": "string"}},
            }
            for index, first in enumerate(_EXPIRIES)
            for second in _EXPIRIES[index + 1 :]
        ]
    },
    "description": "give one of expires, expires_at or expires_in; none: no expiry",
}


#: docker_auth-style labels (:func:`regauth.accounts.check_labels`): KEY -> values
LABEL_KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
LabelValue = Annotated[str, Field(min_length=1, max_length=256, pattern=_PRINTABLE)]
Labels = Annotated[
    dict[
        Annotated[str, Field(pattern=LABEL_KEY_PATTERN)],
        Annotated[list[LabelValue], Field(min_length=1, max_length=64)],
    ],
    Field(
        max_length=32,
        description="labels for ACL rules (${labels:KEY}): each key has one or more values",
        examples=[{"group": ["dev", "ops"]}],
        json_schema_extra={"additionalProperties": False},
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Body):
    username: NewUsername
    password: Password | None = None
    email: Email | None = None
    is_admin: bool = False
    enabled: bool = True
    labels: Labels | None = None


class UserUpdate(_Body):
    email: Email | None = Field(default=None, description='null or "" removes the address')
    is_admin: bool | None = None
    enabled: bool | None = None
    labels: Labels | None = Field(default=None, description="replaces every label; {} removes all")


class PasswordChange(_Body):
    password: Password


class ImportedUser(_Body):
    username: NewUsername
    password_hash: Annotated[
        str,
        Field(max_length=255, pattern=_PRINTABLE, **_documented(pattern=HASH_PATTERN)),
    ]


class UserImport(_Body):
    users: Annotated[list[ImportedUser], Field(max_length=10000)]
    replace: bool = False


class GroupCreate(_Body):
    name: NewGroupName
    description: Description | None = None


_SUBJECTS = ("user", "group", "robot", "public", "authenticated")


def _one_subject(subject: str) -> dict[str, Any]:
    """The schema of a grant for ``subject``: the others absent, null or false."""
    flags = ("public", "authenticated")
    properties: dict[str, Any] = {
        name: {"const": False} if name in flags else {"type": "null"}
        for name in _SUBJECTS
        if name != subject
    }
    properties[subject] = {"const": True} if subject in flags else {"type": "string"}
    if subject == "public":
        properties["role"] = {"const": "pull"}
    return {"required": [subject], "properties": properties}


_EXACTLY_ONE_SUBJECT: dict[str, Any] = {
    "description": "exactly one of user, group, robot, public: true (anonymous pull) or "
    "authenticated: true (every signed-in user)",
    "oneOf": [_one_subject(subject) for subject in _SUBJECTS],
}


class GrantCreate(_Body):
    """A role on a repository pattern for exactly one of user, group, robot, public (anyone,
    without logging in; role pull only), or authenticated (every signed-in user, not robots)."""

    model_config = ConfigDict(json_schema_extra=_EXACTLY_ONE_SUBJECT)

    user: Username | None = None
    group: GroupName | None = None
    robot: RobotName | None = None
    public: bool = False
    authenticated: bool = False
    pattern: Pattern
    role: Role


class RobotGrant(_Body):
    pattern: Pattern
    role: Role


ClaimValue = Annotated[
    str,
    Field(
        max_length=255,
        pattern=_PRINTABLE,
        # printable, and not only wildcards (checked by the accounts layer)
        **_documented(
            minLength=1, pattern=r"^[^\x00-\x1f\x7f]*[^*\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
        ),
    ),
]


class RobotFederation(_Body):
    """Keyless CI: the robot logs in with an ID token from ``issuer`` (no secret) whose
    claims meet every condition in ``claims`` (claim name -> accepted values; ``*`` in a
    value matches any run of characters; several values: any of them)."""

    issuer: Annotated[
        str,
        Field(
            max_length=500,
            examples=["https://token.actions.githubusercontent.com"],
            description="https:// (http:// only on a loopback address)",
            **_documented(pattern=r"^https?://[^\s?#]+$"),
        ),
    ]
    audience: Annotated[str, Field(max_length=500, **_documented(minLength=1))] | None = Field(
        default=None, description="the aud the tokens must carry; null: robots.federated_audience"
    )
    claims: Annotated[
        dict[
            Annotated[str, Field(**_documented(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"))],
            Annotated[list[ClaimValue], Field(max_length=20, **_documented(minItems=1))],
        ],
        Field(
            examples=[{"repository": ["acme/api"], "ref": ["refs/heads/main"]}],
            # every claim name matches the pattern: no other keys
            **_documented(minProperties=1, maxProperties=20, additionalProperties=False),
        ),
    ]


class RobotCreate(_Body):
    model_config = ConfigDict(json_schema_extra=_ONE_EXPIRY)

    name: NewRobotName
    description: Description | None = None
    expires: Expires | None = None
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    grants: Annotated[list[RobotGrant], Field(max_length=100)] = []
    federated: RobotFederation | None = Field(
        default=None, description="trust a CI system's ID tokens instead of a secret"
    )


_READ_ONLY_OR_ACTIONS: dict[str, Any] = {
    "not": {
        "required": ["read_only", "actions"],
        "properties": {"read_only": {"const": True}, "actions": {"type": "array"}},
    }
}


class TokenCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [{"not": _ONE_EXPIRY["not"]}, _READ_ONLY_OR_ACTIONS],
            "description": _ONE_EXPIRY["description"] + "; read_only or actions, not both",
        }
    )

    user: Username
    name: TokenName
    expires: Expires | None = None
    expires_at: ExpiresAt | None = None
    expires_in: ExpiresIn | None = None
    repositories: (
        Annotated[list[Pattern], Field(max_length=100, **_documented(minItems=1))] | None
    ) = None
    actions: (
        Annotated[list[Action], Field(max_length=3, **_documented(minItems=1, uniqueItems=True))]
        | None
    ) = None
    read_only: bool = Field(
        default=False, description="as the CLI's --read-only: actions [pull]; not with actions"
    )


# ------------------------------------------------------- response shapes (the OpenAPI document)


class ErrorBody(BaseModel):
    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["no such user: 'alice'"])


@dataclass(frozen=True)
class CreatedRobot(RobotView):
    #: null for a federated robot: it has no secret
    secret: str | None


@dataclass(frozen=True)
class CreatedToken(TokenView):
    secret: str


class ImportResult(BaseModel):
    created: list[str]
    skipped: list[str]
