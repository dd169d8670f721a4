"""The personal access token form of ``/tokens``: read it, check it field by field, describe tokens.

:func:`read_token_form` turns the submitted fields (``name``, ``expires``, ``access``,
``actions``, ``repositories``) into the arguments of ``AccountService.create_token``, or into
one message per field, using the same checks the account layer runs (token names, repository
patterns, actions) and the same expiry parser as the CLI and the admin API. Pure: no I/O.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from regauth.accounts import ACTIONS, InvalidInput, TokenView, check_pattern, check_token_name
from regauth.durations import parse_expiry
from regauth.web.console.forms import SubmittedForm

__all__ = [
    "ACCESS_CHOICES",
    "MAX_PATTERNS",
    "TokenFields",
    "TokenRequest",
    "describe_access",
    "read_token_form",
    "token_state",
]

#: the ``access`` radio buttons: every action, pull only, or the ``actions`` checked
ACCESS_CHOICES = (
    ("all", "Everything you may do (pull, push, delete)"),
    ("read", "Read-only (pull)"),
    ("custom", "Only the actions chosen below"),
)
MAX_PATTERNS = 100
DEFAULT_EXPIRY = "30d"


@dataclass(frozen=True)
class TokenFields:
    """What the form showed or was sent: re-rendered as typed when something is wrong."""

    name: str = ""
    expires: str = DEFAULT_EXPIRY
    access: str = "all"
    actions: tuple[str, ...] = ()
    repositories: str = ""


@dataclass(frozen=True)
class TokenRequest:
    """The checked arguments of ``create_token``."""

    name: str
    expires_at: datetime.datetime | None
    actions: tuple[str, ...] | None
    repositories: tuple[str, ...] | None = None


def _expiry(text: str, now: datetime.datetime) -> datetime.datetime | None:
    if not text:
        raise ValueError("Enter how long the token lasts (such as 30d or 12h), a date, or never.")
    return parse_expiry(text, now)


def _patterns(text: str) -> tuple[str, ...] | None:
    lines = [line.strip() for line in text.splitlines()]
    patterns = tuple(dict.fromkeys(line for line in lines if line))
    if not patterns:
        return None
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"At most {MAX_PATTERNS} patterns.")
    for pattern in patterns:
        try:
            check_pattern(pattern)
        except InvalidInput as exc:
            raise ValueError(f"{pattern[:80]!r}: {exc.message}") from None
    return patterns


def read_token_form(
    form: SubmittedForm, now: datetime.datetime
) -> tuple[TokenFields, TokenRequest | None, dict[str, str]]:
    """The fields as sent, the request when every field is right, and the errors by field."""
    fields = TokenFields(
        name=form.text("name"),
        expires=form.text("expires"),
        access=form.text("access"),
        actions=tuple(a for a in ACTIONS if a in form.all("actions")),
        repositories=form.get("repositories"),
    )
    errors: dict[str, str] = {}
    if not fields.name:
        errors["name"] = "Give the token a name, such as the machine or job that will use it."
    else:
        try:
            check_token_name(fields.name)
        except InvalidInput as exc:
            errors["name"] = exc.message
    expires_at = None
    try:
        expires_at = _expiry(fields.expires, now)
    except ValueError as exc:
        errors["expires"] = str(exc)
    actions: tuple[str, ...] | None = None
    if fields.access == "read":
        actions = ("pull",)
    elif fields.access == "custom":
        unknown = [a for a in form.all("actions") if a not in ACTIONS]
        if unknown:
            errors["actions"] = f"Unknown action {unknown[0][:40]!r}: choose pull, push or delete."
        elif not fields.actions:
            errors["actions"] = "Choose at least one action."
        actions = fields.actions
    elif fields.access != "all":
        errors["access"] = "Choose what the token may do."
    repositories = None
    try:
        repositories = _patterns(fields.repositories)
    except ValueError as exc:
        errors["repositories"] = str(exc)
    if errors:
        return fields, None, errors
    return fields, TokenRequest(fields.name, expires_at, actions, repositories), errors


def describe_access(token: TokenView) -> str:
    """What a token may do, in a few words: "pull, push on team/*"."""
    if token.actions is None:
        what = "all actions"
    elif list(token.actions) == ["pull"]:
        what = "read-only"
    else:
        what = ", ".join(token.actions)
    if token.repositories is None:
        return what
    return f"{what} on {', '.join(token.repositories)}"


def token_state(token: TokenView, now: datetime.datetime) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"
