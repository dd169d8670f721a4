"""Patterns that input cannot make slow: the worst cases of repository, glob and regex
patterns are matched in bounded time, with the same answers as a backtracking matcher."""

import re
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from regauth.patterns.acl import PatternError, compile_pattern, validate_pattern
from regauth.patterns.linear import backtracks_safely, compile_regex
from regauth.patterns.repository import compile_repository_pattern

NO_VALUES: dict[str, str] = {}


def _timed(check: object, repeat: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        check()  # type: ignore[operator]
    return (time.perf_counter() - started) / repeat


@pytest.mark.parametrize(
    ("regex", "safe"),
    [
        (".+", True),
        (r"(.+)@example\.com", True),
        ("team/[^/]*", True),
        ("[a-z0-9]{1,63}", True),
        ("abc", True),
        ("[^/]*a[^/]*c", False),
        ("(a+)+b", False),
        ("(a|aa)*b", False),
        ("admin|ops", False),
        ("a?b?c?", False),
        (r"(a)\1", False),
        ("(?=a)a", False),
    ],
)
def test_which_patterns_stay_with_re(regex: str, safe: bool) -> None:
    assert backtracks_safely(regex) is safe


def test_many_star_repository_pattern_is_fast_and_right() -> None:
    """The grant pattern that took 5.4 s against a 120-character name."""
    pattern = compile_repository_pattern("*a*a*a*a*a*c")
    worst = "a" * 255
    assert _timed(lambda: pattern.fullmatch(worst)) < 0.01
    assert pattern.fullmatch(worst) is None
    assert pattern.fullmatch("xaxaxaxaxac") is not None
    assert pattern.fullmatch("team/a/a/a/a/a/c") is not None


def test_many_star_acl_glob_is_fast_and_right() -> None:
    pattern = compile_pattern("*a*a*a*a*a*c")
    worst = "a" * 255
    assert _timed(lambda: pattern.matches(worst, NO_VALUES, NO_VALUES, {})) < 0.01
    assert not pattern.matches(worst, NO_VALUES, NO_VALUES, {})
    assert pattern.matches("babababababac", NO_VALUES, NO_VALUES, {})
    assert not pattern.matches("a/a/a/a/a/c", NO_VALUES, NO_VALUES, {})  # * stops at /


@pytest.mark.parametrize("source", ["/(a+)+b/", "/(a|aa)*b/", "/(.*a){12}/", "/([a-z]+)*\\d/"])
def test_an_administrators_exponential_regex_is_matched_in_linear_time(source: str) -> None:
    pattern = compile_pattern(source)
    for worst in ("a" * 4000 + "!", "a" * 100):
        assert _timed(lambda w=worst: pattern.matches(w, NO_VALUES, NO_VALUES, {}), 5) < 0.05


def test_placeholder_patterns_expand_to_linear_matchers() -> None:
    pattern = compile_pattern("${account}*a*a*a*c")
    values = {"account": "x"}
    worst = "x" + "a" * 250
    assert _timed(lambda: pattern.matches(worst, values, NO_VALUES, {})) < 0.01
    assert pattern.matches("xbabababac", values, NO_VALUES, {})


def test_lookaround_and_backreferences_are_refused_with_the_reason() -> None:
    with pytest.raises(PatternError, match="linear time"):
        validate_pattern("/(?=admin)ad.*/")
    with pytest.raises(PatternError, match="linear time"):
        compile_pattern("/(a)\\1/")


def test_capture_groups_work_on_both_engines() -> None:
    simple = compile_regex(r"(.+)@example\.com")
    complex_ = compile_regex(r"(.+)@(example|corp)\.com")
    assert isinstance(simple, re.Pattern)
    assert not isinstance(complex_, re.Pattern)
    found = complex_.fullmatch("bob@corp.com")
    assert found is not None and tuple(found.groups()) == ("bob", "corp")
    assert complex_.groups == 2


_NAME = st.text(alphabet="ab/c", max_size=12)
_REPO_PATTERN = st.text(alphabet="ab/c*?", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(_REPO_PATTERN, _NAME)
def test_repository_patterns_answer_as_a_backtracking_matcher_would(
    pattern: str, name: str
) -> None:
    reference = re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )
    expected = reference.fullmatch(name) is not None
    assert (compile_repository_pattern(pattern).fullmatch(name) is not None) is expected


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab/c*?", min_size=1, max_size=8), _NAME)
def test_acl_globs_answer_as_a_backtracking_matcher_would(glob: str, name: str) -> None:
    from regauth.patterns.acl import glob_to_regex, is_regex

    assume(not is_regex(glob))  # /like this/ is a regular expression, not a glob
    expected = re.fullmatch(glob_to_regex(glob), name) is not None
    assert compile_pattern(glob).matches(name, NO_VALUES, NO_VALUES, {}) is expected
