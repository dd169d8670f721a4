"""Repository patterns of role grants and token limits: ``team/app``, ``team/*``, ``*``.

Unlike ACL globs, ``*`` here crosses ``/``: a grant on ``team/*`` covers ``team/app`` and
``team/app/sub``, which is what "a role on a namespace" means. ``?`` is one character.
"""

from __future__ import annotations

import functools
import re

from regauth.patterns.linear import Matcher, compile_linear

__all__ = ["compile_repository_pattern", "validate_repository_pattern"]

_VALID = re.compile(r"[a-z0-9*?][a-z0-9._/*?:-]{0,254}")


def validate_repository_pattern(pattern: str) -> str:
    if not _VALID.fullmatch(pattern) or "//" in pattern:
        raise ValueError(
            f"invalid repository pattern {pattern[:80]!r}: use a repository name with * "
            "wildcards, such as team/app, team/* or *"
        )
    return pattern


@functools.lru_cache(maxsize=4096)
def compile_repository_pattern(pattern: str) -> Matcher:
    """A matcher for the pattern; one with several ``*`` (``*a*a*a*c``) runs on RE2, so no
    repository name can make it backtrack (see :mod:`regauth.patterns.linear`)."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    regex = "".join(parts)
    return re.compile(regex) if pattern.count("*") <= 1 else compile_linear(regex)
