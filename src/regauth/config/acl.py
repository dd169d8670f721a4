"""The ``acl:`` rules: match conditions, actions, placeholders and capture-group checks.

A rule is checked when the configuration loads: every pattern compiles, every placeholder is
one regauth knows, and ``${account:1}`` refers to a capture group that ``match.account`` has.
The rules engine that applies them is :mod:`regauth.authz.acl`.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from regauth.config.base import Model, parse_ip_pattern
from regauth.patterns.acl import PatternError, validate_pattern

__all__ = ["AclRule", "MatchConditions", "check_pattern"]

_PLACEHOLDER = re.compile(r"\$\{([a-z]+)(?::([^}]*))?\}")
_ACTION = re.compile(r"[a-z]+|\*")


def _is_regex(pattern: str) -> bool:
    return len(pattern) > 2 and pattern[0] == "/" and pattern[-1] == "/"


def check_pattern(pattern: str) -> None:
    """Validate a match pattern (glob or /regex/), placeholders included."""
    try:
        validate_pattern(pattern)
    except PatternError as exc:
        raise ValueError(str(exc)) from None


class MatchConditions(Model):
    account: str | None = None
    type: str | None = None
    name: str | None = None
    service: str | None = None
    ip: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("account", "type", "name", "service")
    @classmethod
    def _check_patterns(cls, value: str | None) -> str | None:
        if value is not None:
            check_pattern(value)
        return value

    @field_validator("labels")
    @classmethod
    def _check_label_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                check_pattern(pattern)
            except ValueError as exc:
                raise ValueError(f"label {key!r}: {exc}") from None
        return value

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is not None:
            parse_ip_pattern(value)
        return value

    @model_validator(mode="after")
    def _check_capture_groups(self) -> MatchConditions:
        """``${account:1}`` needs ``account`` to be a /regex/ with at least one group."""
        fields = {
            "account": self.account,
            "type": self.type,
            "name": self.name,
            "service": self.service,
        }
        texts = [v for v in fields.values() if v] + list(self.labels.values())
        for text in texts:
            for match in _PLACEHOLDER.finditer(text):
                kind, argument = match.group(1), match.group(2)
                if kind == "labels":
                    if not argument:
                        raise ValueError(f"{match.group(0)}: name the label, as ${{labels:group}}")
                    continue
                if kind not in fields:
                    raise ValueError(
                        f"unknown placeholder {match.group(0)}: use ${{account}}, ${{name}}, "
                        "${service}, ${type}, ${labels:KEY} or a capture group like ${account:1}"
                    )
                if argument is None:
                    continue
                if not argument.isdigit() or int(argument) < 1:
                    raise ValueError(f"{match.group(0)}: capture group must be a number >= 1")
                source = fields[kind]
                if source is None or not _is_regex(source) or _PLACEHOLDER.search(source):
                    raise ValueError(
                        f"{match.group(0)} needs match.{kind} to be a /regex/ without placeholders"
                    )
                groups = re.compile(source[1:-1]).groups
                if int(argument) > groups:
                    raise ValueError(
                        f"{match.group(0)}: match.{kind} has only {groups} capture group(s)"
                    )
        return self


class AclRule(Model):
    match: MatchConditions
    actions: list[str]
    comment: str | None = None

    @field_validator("actions")
    @classmethod
    def _check_actions(cls, value: list[str]) -> list[str]:
        for action in value:
            if not _ACTION.fullmatch(action):
                raise ValueError(f"invalid action {action!r}: use pull, push, delete or *")
        return value
