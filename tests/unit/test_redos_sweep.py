"""No module-level regular expression that input can make slow.

Every compiled ``re.Pattern`` held at module level anywhere in the ``regauth`` package is fed
adversarial text built from its own character classes and literals (a long run of one class
ending in a character none accepts, alternations of two classes or literals, all of them
mixed), at the largest length such input can have, with ``fullmatch``, ``match`` and
``search``. Each call must finish within :data:`BOUND` seconds: a backtracking blow-up
(exponential, or quadratic at these lengths) takes tens to thousands of times longer.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

import regauth
from regauth.protocol import notifications, scope

try:  # Python 3.11+
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

#: the longest text any request field can carry to a pattern: a Basic header's base64 of a
#: 256-character username and an 8 KiB secret is about 17 KiB
DEFAULT_LENGTH = 16 * 1024
#: patterns that only ever see text bounded before they run: name -> (bound, where it is checked)
BOUNDED = {
    "regauth.protocol.scope._REPOSITORY_NAME": scope.MAX_NAME_LENGTH,  # parse_scope
    "regauth.protocol.scope._GENERIC_NAME": scope.MAX_NAME_LENGTH,  # parse_scope
    # the notification parser checks a field's length before its grammar (_text)
    "regauth.protocol.notifications._DIGEST": notifications.DIGEST_LENGTH,
    "regauth.protocol.notifications._MEDIA_TYPE": notifications.MEDIA_TYPE_LENGTH,
}
#: seconds one call may take on the longest input (a linear scan of 16 KiB takes well under 5 ms)
BOUND = 0.05
#: modules that cannot be imported on their own (alembic's env runs only inside alembic)
SKIP_MODULES = ("regauth.__main__", "regauth.store.migrations.env")

_CATEGORY_SAMPLES = {
    sre_constants.CATEGORY_DIGIT: "1",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_WORD: "a",
    sre_constants.CATEGORY_NOT_WORD: "-",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: "a",
}
#: characters that end a run: few patterns accept all of them
_ENDINGS = ("!", "\x00", " ", "\n")


def module_patterns() -> dict[str, re.Pattern[str]]:
    """Every module-level compiled pattern in the package, by ``module.NAME``."""
    found: dict[str, re.Pattern[str]] = {}
    seen: set[int] = set()
    for info in pkgutil.walk_packages(regauth.__path__, "regauth."):
        if info.name in SKIP_MODULES:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            is_text_pattern = isinstance(value, re.Pattern) and isinstance(value.pattern, str)
            if is_text_pattern and id(value) not in seen:
                seen.add(id(value))
                found[f"{info.name}.{name}"] = value
    return found


def pieces(pattern: re.Pattern[str]) -> list[str]:
    """One sample of each character class and each literal run of ``pattern``, in order."""
    out: list[str] = []

    def walk(items: Any) -> None:
        run = ""
        for op, arg in items:
            if op is sre_constants.LITERAL:
                run += chr(arg)
                out.append(chr(arg))
                continue
            if run:
                out.append(run)
                run = ""
            if op is sre_constants.IN:
                for item_op, item_arg in arg:
                    if item_op is sre_constants.LITERAL:
                        out.append(chr(item_arg))
                    elif item_op is sre_constants.RANGE:
                        out.extend([chr(item_arg[0]), chr(item_arg[1])])
                    elif item_op is sre_constants.CATEGORY:
                        out.append(_CATEGORY_SAMPLES.get(item_arg, "a"))
            elif op in (sre_constants.NOT_LITERAL, sre_constants.ANY):
                out.append("a")
            elif op is sre_constants.SUBPATTERN:
                walk(arg[3])
            elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
                walk(arg[2])
            elif op is sre_constants.BRANCH:
                for branch in arg[1]:
                    walk(branch)
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                walk(arg[1])
        if run:
            out.append(run)

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return list(dict.fromkeys(out))[:16]


def adversarial(pattern: re.Pattern[str], length: int) -> Iterator[str]:
    """Runs of each piece, alternations of two, and all of them mixed, each ``length``
    characters followed by a character that ends the run."""
    samples = pieces(pattern)

    def fill(unit: str) -> str:
        return (unit * (length // len(unit) + 1))[:length]

    for piece in samples:
        for ending in _ENDINGS:
            yield fill(piece) + ending
    for first, second in itertools.permutations(samples, 2):
        yield fill(first + second) + "!"
    yield fill("".join(samples)) + "!"
    yield fill("".join(reversed(samples))) + "\x00"


def slowest(pattern: re.Pattern[str], text: str) -> tuple[float, str]:
    worst = (0.0, "")
    for method in (pattern.fullmatch, pattern.match, pattern.search):
        # the fastest of two runs: a busy machine can stall one call, never both by seconds
        took = min(_timed(method, text) for _ in range(2))
        worst = max(worst, (took, method.__name__))
    return worst


def _timed(method: Any, text: str) -> float:
    started = time.perf_counter()
    method(text)
    return time.perf_counter() - started


PATTERNS = module_patterns()


def test_the_sweep_finds_the_patterns() -> None:
    # the walk reaches every layer: a pattern of the protocol, the web front and the backends
    for name in (
        "regauth.protocol.scope._REPOSITORY_NAME",
        "regauth.web.client_address._FORWARDED_FOR",
        "regauth.authn.chain._JWT",
        "regauth.durations._DURATION",
    ):
        assert name in PATTERNS
    assert set(BOUNDED) <= set(PATTERNS)


def test_the_sweep_catches_a_backtracking_pattern() -> None:
    """The inputs and the bound find quadratic blow-ups (so a pass means something)."""
    # quadratic under search(): an exponential one would make this test itself hang
    for source in (r"[A-Za-z0-9_-]{8,}\.x", r"<([^>]+)>;"):
        pattern = re.compile(source)
        assert any(
            slowest(pattern, text)[0] > BOUND for text in adversarial(pattern, DEFAULT_LENGTH)
        ), source


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_is_linear_on_adversarial_input(name: str) -> None:
    pattern = PATTERNS[name]
    length = BOUNDED.get(name, DEFAULT_LENGTH)
    for text in adversarial(pattern, length):
        took, method = slowest(pattern, text)
        assert took < BOUND, (
            f"{name} ({pattern.pattern!r}).{method} took {took:.3f} s on "
            f"{text[:24]!r}... ({len(text)} characters)"
        )


def test_ldap_error_unwrapping_is_linear() -> None:
    """ldap3's ``('text',)`` wrappers were peeled by a backreference pattern (quadratic)."""
    from regauth.authn.ldap.errors import describe

    assert describe(Exception("""('("invalid credentials",)',)""")) == "invalid credentials"
    assert describe(Exception("(',)")) == "(',)"
    assert describe(Exception("plain")) == "plain"
    nested = "('" * 20_000 + "x" + "',)" * 20_000
    started = time.perf_counter()
    assert describe(Exception(nested)).startswith("('")
    assert time.perf_counter() - started < BOUND
