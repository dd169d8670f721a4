"""Pattern matching that no input can make slow.

Python's ``re`` backtracks: ``.*a.*a.*a.*a.*a.*c`` against 120 letters took 5.4 s, and an
administrator's regex such as ``/(a+)+b/`` is exponential in the length of a repository or
account name a client sends. Patterns that could backtrack like that are matched with RE2
(google-re2), whose automata run in time linear in the input whatever the pattern. Patterns
that cannot (a single repeat of a single character class, no alternation) stay with ``re``,
about 25 times faster per call, and they are the common case (``team/*``, ``/.+/``).

RE2 understands Go's regular expression syntax, which is what docker_auth's rules are
written in; it has no backreferences or lookaround, and a rule that uses them is refused when
the configuration is loaded, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import re2

__all__ = [
    "LinearMatchError",
    "Matcher",
    "backtracks_safely",
    "compile_linear",
    "compile_regex",
]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported by us, as one line naming the rule


class LinearMatchError(ValueError):
    """A pattern that cannot be matched in linear time (lookaround, backreferences)."""


class MatchLike(Protocol):
    def groups(self) -> Sequence[str | None]: ...


class Matcher(Protocol):
    """What both engines offer here: whole-value matching and capture groups."""

    @property
    def groups(self) -> int: ...

    def fullmatch(self, string: str) -> MatchLike | None: ...


def compile_linear(regex: str) -> Matcher:
    """RE2: linear time for any pattern; :class:`LinearMatchError` when it cannot express it."""
    try:
        return re2.compile(regex, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args else "unsupported"
        if isinstance(exc.args[0] if exc.args else None, str):
            reason = exc.args[0]
        raise LinearMatchError(
            f"cannot be matched in linear time ({reason}): lookaround and backreferences "
            "are not supported"
        ) from None


_SINGLE = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})


def backtracks_safely(regex: str) -> bool:
    """Whether ``re`` matches ``regex`` in time linear in the input: at most one repeat in
    the whole pattern (``*``, ``+``, ``?``, ``{m,n}``), over a single character or class, and
    no alternation, backreference or lookaround. Anything more may backtrack
    polynomially or exponentially (``.*a.*c``, ``(a+)+``, ``(a|aa)*``)."""
    from re import _parser  # type: ignore[attr-defined]  # CPython's own parser

    try:
        parsed = _parser.parse(regex)
    except re.error:
        return False
    repeats = 0

    def safe(items: object) -> bool:
        nonlocal repeats
        for op, value in items:  # type: ignore[attr-defined]
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                repeats += 1
                inner = list(value[2])
                if repeats > 1 or len(inner) != 1 or str(inner[0][0]) not in _SINGLE:
                    return False
            elif name == "SUBPATTERN":
                if not safe(value[-1]):
                    return False
            elif name not in _SINGLE and name not in ("AT",):
                return False  # BRANCH, GROUPREF, ASSERT, ATOMIC_GROUP, ...
        return True

    return safe(parsed)


def compile_regex(regex: str) -> Matcher:
    """The fastest engine that stays linear for this pattern: ``re`` when
    :func:`backtracks_safely`, RE2 otherwise. ``re.error`` for a pattern that does not compile;
    :class:`LinearMatchError` for one only ``re`` could run, and only slowly."""
    compiled = re.compile(regex)  # syntax errors with Python's messages
    return compiled if backtracks_safely(regex) else compile_linear(regex)
