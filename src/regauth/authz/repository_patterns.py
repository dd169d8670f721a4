"""Repository patterns of role grants and token limits: ``team/app``, ``team/*``, ``*``.

Unlike ACL globs, ``*`` here crosses ``/``: a grant on ``team/*`` covers ``team/app`` and
``team/app/sub``, which is what "a role on a namespace" means. ``?`` is one character.
"""

from __future__ import annotations

import functools
import re

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
def compile_repository_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts))
