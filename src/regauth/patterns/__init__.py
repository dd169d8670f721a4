"""Patterns that names are matched against, and that no name can make slow.

    linear      the engine choice: ``re`` for patterns that cannot backtrack badly, RE2
                (linear time whatever the pattern) for the rest
    repository  repository patterns of grants and token limits (``team/*``: ``*`` crosses /)
    acl         ACL rule patterns in docker_auth's syntax (globs, ``/regex/``, placeholders)

Below both the configuration (which validates patterns when it loads) and the authorizers
(which match them), so neither imports the other for them.
"""

from regauth.patterns.acl import Pattern, PatternError, compile_pattern, validate_pattern
from regauth.patterns.linear import LinearMatchError, Matcher, compile_linear, compile_regex
from regauth.patterns.repository import compile_repository_pattern, validate_repository_pattern

__all__ = [
    "LinearMatchError",
    "Matcher",
    "Pattern",
    "PatternError",
    "compile_linear",
    "compile_pattern",
    "compile_regex",
    "compile_repository_pattern",
    "validate_pattern",
    "validate_repository_pattern",
]
