"""Match patterns of ACL rules, in docker_auth's syntax with stricter semantics.

* A pattern written ``/like this/`` is a regular expression matched against the **whole**
  value (docker_auth's Go regexes are unanchored: there ``/admin/`` matches ``not-admin``).
* Anything else is a glob with Go's ``path.Match`` rules: ``*`` is any run of characters
  except ``/``, ``?`` one character except ``/``, ``[a-z]`` / ``[^a-z]`` a class, ``\\`` escapes.
* Placeholders ``${account}``, ``${name}``, ``${type}``, ``${service}``, ``${labels:KEY}`` and
  capture groups ``${account:1}`` are replaced by request values, escaped so that a value can
  never act as a wildcard (``*`` in an account name stays a literal star).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from regauth.patterns.linear import LinearMatchError, Matcher, compile_linear, compile_regex

__all__ = [
    "MAX_LABEL_COMBINATIONS",
    "Pattern",
    "PatternError",
    "compile_pattern",
    "glob_to_regex",
    "validate_pattern",
]

PLACEHOLDER = re.compile(r"\$\{([a-z]+)(?::([^}]*))?\}")
MAX_LABEL_COMBINATIONS = 256
_GLOB_SPECIAL = frozenset("*?[\\")


class PatternError(ValueError):
    pass


def is_regex(pattern: str) -> bool:
    return len(pattern) > 2 and pattern[0] == "/" and pattern[-1] == "/"


def glob_to_regex(glob: str) -> str:
    """Translate a Go ``path.Match`` glob into an equivalent Python regular expression."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= n:
                raise PatternError(f"invalid glob {glob!r}: trailing backslash")
            i += 1
            out.append(re.escape(glob[i]))
        elif c == "[":
            i += 1
            negate = i < n and glob[i] == "^"
            if negate:
                i += 1
            parts: list[str] = []
            while True:
                if i >= n:
                    raise PatternError(f"invalid glob {glob!r}: unclosed [")
                if glob[i] == "]" and parts:
                    break
                lo, i = _class_char(glob, i)
                if i < n and glob[i] == "-":
                    hi, i = _class_char(glob, i + 1)
                    if hi < lo:
                        raise PatternError(f"invalid glob {glob!r}: bad range {lo}-{hi}")
                    parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
                else:
                    parts.append(re.escape(lo))
            out.append(("[^" if negate else "[") + "".join(parts) + "]")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_char(glob: str, i: int) -> tuple[str, int]:
    if i >= len(glob):
        raise PatternError(f"invalid glob {glob!r}: unclosed [")
    c = glob[i]
    if c == "\\":
        if i + 1 >= len(glob):
            raise PatternError(f"invalid glob {glob!r}: trailing backslash")
        return glob[i + 1], i + 2
    if c in "-]":
        raise PatternError(f"invalid glob {glob!r}: unexpected {c!r} in character class")
    return c, i + 1


def escape_glob(value: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in value)


@functools.lru_cache(maxsize=8192)
def _compile(text: str, regex: bool) -> Matcher:
    """A matcher that no value can make slow (see :mod:`regauth.patterns.linear`)."""
    if regex:
        return compile_regex(text[1:-1])
    translated = glob_to_regex(text)
    if max(segment.count("*") for segment in text.split("/")) <= 1:
        return re.compile(translated)  # one * per segment: '/' bounds its backtracking
    return compile_linear(translated)


def validate_pattern(pattern: str) -> None:
    """Raise PatternError if the pattern (with any placeholders filled in) cannot compile."""
    filled = PLACEHOLDER.sub("x", pattern)
    try:
        _compile(filled, is_regex(pattern))
    except re.error as exc:
        raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None
    except LinearMatchError as exc:
        raise PatternError(f"regular expression {pattern!r} {exc}") from None


#: request values a pattern may refer to: account, name, type, service
Variables = Mapping[str, str]
#: capture groups of the rule's own regex patterns, keyed by "account:1" and so on
Captures = Mapping[str, str]
Labels = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Pattern:
    source: str
    regex: bool
    #: the exact value this pattern accepts when it is a literal (no wildcard, no placeholder)
    literal: str | None
    #: compiled form when there are no placeholders
    compiled: Matcher | None
    label_keys: tuple[str, ...]

    def matches(self, value: str, variables: Variables, captures: Captures, labels: Labels) -> bool:
        if self.literal is not None:
            return value == self.literal
        if self.compiled is not None:
            return self.compiled.fullmatch(value) is not None
        escape: Callable[[str], str] = re.escape if self.regex else escape_glob
        for combination in self._label_combinations(labels):
            text = self._expand(variables, captures, combination, escape)
            if text is None:
                return False
            try:
                compiled = _compile(text, self.regex)
            except (re.error, PatternError, LinearMatchError):
                continue
            if compiled.fullmatch(value) is not None:
                return True
        return False

    def _label_combinations(self, labels: Labels) -> itertools.islice[tuple[str, ...]]:
        value_lists = [labels.get(key, ()) for key in self.label_keys]
        return itertools.islice(itertools.product(*value_lists), MAX_LABEL_COMBINATIONS)

    def _expand(
        self,
        variables: Variables,
        captures: Captures,
        label_values: tuple[str, ...],
        escape: Callable[[str], str],
    ) -> str | None:
        by_label = dict(zip(self.label_keys, label_values, strict=True))
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            kind, argument = match.group(1), match.group(2)
            if kind == "labels":
                found = by_label.get(argument or "")
            elif argument is None:
                found = variables.get(kind)
            else:
                found = captures.get(f"{kind}:{argument}")
            if found is None:
                missing = True
                return ""
            return escape(found)

        text = PLACEHOLDER.sub(replace, self.source)
        # an unresolvable placeholder (no such label, capture group did not match) never matches
        return None if missing else text


def compile_pattern(source: str) -> Pattern:
    regex = is_regex(source)
    has_placeholders = PLACEHOLDER.search(source) is not None
    label_keys = tuple(
        dict.fromkeys(
            m.group(2) or "" for m in PLACEHOLDER.finditer(source) if m.group(1) == "labels"
        )
    )
    try:
        compiled = None if has_placeholders else _compile(source, regex)
    except re.error as exc:
        raise PatternError(f"invalid regular expression {source!r}: {exc}") from None
    except LinearMatchError as exc:
        raise PatternError(f"regular expression {source!r} {exc}") from None
    literal = None
    if not regex and not has_placeholders and not (_GLOB_SPECIAL & set(source)):
        literal = source
    return Pattern(source, regex, literal, compiled, label_keys)
