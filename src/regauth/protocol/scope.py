"""Scope grammar of the Distribution token specification ("Token Scope Documentation").

    scope        := resourcetype ":" resourcename ":" action [ "," action ]*
    resourcetype := resourcetypevalue [ "(" resourcetypevalue ")" ]
    resourcetypevalue := /[a-z0-9]+/

The resource name may itself contain colons (``host:5000/team/app``), so the type is split
off at the first colon and the actions at the last one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from regauth.protocol.errors import InvalidRequest

__all__ = [
    "MAX_SCOPES",
    "MAX_SCOPE_LENGTH",
    "Scope",
    "format_scopes",
    "merge_scopes",
    "parse_scope",
    "parse_scopes",
]

MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 1024
MAX_NAME_LENGTH = 255

_TYPE = re.compile(r"([a-z0-9]+)(?:\(([a-z0-9]+)\))?")
_ACTION = re.compile(r"[a-z]+|\*")
# distribution/reference: path components are lower-case alphanumerics joined by separators;
# an optional leading domain (with a port) may precede them.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?"
_REPOSITORY_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_GENERIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


@dataclass(frozen=True, slots=True)
class Scope:
    """One requested (or granted) resource: ``repository:team/app:pull,push``."""

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str | None = None

    def __str__(self) -> str:
        kind = f"{self.type}({self.resource_class})" if self.resource_class else self.type
        return f"{kind}:{self.name}:{','.join(self.actions)}"


def _clip(text: str, limit: int = 80) -> str:
    """A printable, bounded rendering of client input for error messages."""
    escaped = text[: limit + 1].encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def parse_scope(text: str) -> Scope:
    """Parse one scope; raise InvalidRequest naming the scope and what is wrong with it."""
    if len(text) > MAX_SCOPE_LENGTH:
        raise InvalidRequest(f"scope longer than {MAX_SCOPE_LENGTH} characters: '{_clip(text)}'")
    first = text.find(":")
    last = text.rfind(":")
    if first < 0 or first == last:
        raise InvalidRequest(
            f"malformed scope '{_clip(text)}': expected type:name:actions", detail=text
        )
    kind, name, action_text = text[:first], text[first + 1 : last], text[last + 1 :]
    type_match = _TYPE.fullmatch(kind)
    if type_match is None:
        raise InvalidRequest(
            f"malformed scope '{_clip(text)}': bad resource type '{_clip(kind)}'", detail=text
        )
    resource_type, resource_class = type_match.group(1), type_match.group(2)
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"malformed scope '{_clip(text)}': resource name must have 1 to "
            f"{MAX_NAME_LENGTH} characters",
            detail=text,
        )
    name_pattern = _REPOSITORY_NAME if resource_type == "repository" else _GENERIC_NAME
    if name_pattern.fullmatch(name) is None:
        raise InvalidRequest(
            f"malformed scope '{_clip(text)}': invalid {resource_type} name '{_clip(name)}'",
            detail=text,
        )
    actions: list[str] = []
    for action in action_text.split(","):
        if _ACTION.fullmatch(action) is None:
            raise InvalidRequest(
                f"malformed scope '{_clip(text)}': invalid action '{_clip(action)}'", detail=text
            )
        if action not in actions:
            actions.append(action)
    return Scope(resource_type, name, tuple(actions), resource_class)


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """Parse repeated ``scope`` parameters, each possibly a space-separated list."""
    scopes: list[Scope] = []
    for value in values:
        for item in value.split(" "):
            if not item:
                continue
            if len(scopes) >= MAX_SCOPES:
                raise InvalidRequest(f"too many scopes: at most {MAX_SCOPES} per request")
            scopes.append(parse_scope(item))
    return merge_scopes(scopes)


def merge_scopes(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """Merge scopes naming the same resource, keeping first-seen order of resources and actions.

    Clients repeat scopes (podman) and add to them after an ``insufficient_scope`` answer; the
    registry merges access entries for the same type and name, so we do too.
    """
    merged: dict[tuple[str, str], Scope] = {}
    for scope in scopes:
        key = (scope.type, scope.name)
        seen = merged.get(key)
        if seen is None:
            merged[key] = scope
        else:
            extra = tuple(a for a in scope.actions if a not in seen.actions)
            if extra:
                merged[key] = Scope(seen.type, seen.name, seen.actions + extra, seen.resource_class)
    return tuple(merged.values())


def format_scopes(scopes: Iterable[Scope]) -> list[str]:
    return [str(scope) for scope in scopes]
