"""The ``acl:`` rules: match conditions, actions, placeholders and capture-group checks.

A rule is checked when the configuration loads: every pattern compiles, every placeholder is
one regauth knows, and ``${account:1}`` refers to a /regex/ in ``match.account``. A capture
group the regex lacks (``${account:3}`` with one group) is accepted, as docker_auth does, and
never resolves, so the rule never matches: :func:`acl_warnings` names such rules for
``regauth check-config`` and the start-up log. The rules engine that applies them is
:mod:`regauth.authz.acl`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field, ValidationInfo, field_validator, model_validator

from regauth.config.base import Model, parse_ip_pattern
from regauth.patterns.acl import PatternError, validate_pattern

__all__ = ["KNOWN_ACTIONS", "AclRule", "MatchConditions", "acl_warnings", "check_pattern"]

_PLACEHOLDER = re.compile(r"\$\{([a-z]+)(?::([^}]*))?\}")
_ACTION = re.compile(r"[a-z]+|\*")
#: the actions of the Distribution token protocol (``*``: the catalog's, or "all of them")
KNOWN_ACTIONS = ("pull", "push", "delete", "*")
#: the resource types regauth knows; a rule for another type may name that type's own actions
_KNOWN_TYPES = ("repository", "registry")


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
        return self

    def missing_capture_groups(self) -> list[str]:
        """Placeholders naming a capture group their regex lacks (such a rule never matches)."""
        fields = {
            "account": self.account,
            "type": self.type,
            "name": self.name,
            "service": self.service,
        }
        texts = [v for v in fields.values() if v] + list(self.labels.values())
        missing: dict[str, str] = {}
        for text in texts:
            for match in _PLACEHOLDER.finditer(text):
                kind, argument = match.group(1), match.group(2)
                source = fields.get(kind)
                if kind == "labels" or argument is None or source is None:
                    continue
                groups = re.compile(source[1:-1]).groups
                if int(argument) > groups:
                    has = f"only {groups}" if groups else "none"
                    missing[match.group(0)] = (
                        f"{match.group(0)} names capture group {argument}, but match.{kind} "
                        f"has {has}"
                    )
        return list(missing.values())


class AclRule(Model):
    match: MatchConditions
    actions: list[str]
    comment: str | None = None

    @field_validator("actions")
    @classmethod
    def _check_actions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Only the protocol's actions, so a misspelt one (``puhs``) is an error, not a denial.

        A rule whose ``match.type`` names another resource type literally (``type: helm``) may
        list that type's own actions: nothing else can grant them.
        """
        match = info.data.get("match")
        foreign = (
            isinstance(match, MatchConditions)
            and match.type is not None
            and re.fullmatch(r"[a-z0-9_-]+", match.type) is not None
            and match.type not in _KNOWN_TYPES
        )
        for action in value:
            if not _ACTION.fullmatch(action):
                raise ValueError(f"invalid action {action!r}: use pull, push, delete or *")
            if action not in KNOWN_ACTIONS and not foreign:
                raise ValueError(f'unknown action "{action}": use pull, push, delete or *')
        return value


def acl_warnings(rules: Sequence[AclRule]) -> list[str]:
    """What is accepted in the rules but surely not meant: a rule that can never match."""
    return [
        f"acl[{index}]: {problem}: the rule never matches"
        for index, rule in enumerate(rules)
        for problem in rule.match.missing_capture_groups()
    ]
