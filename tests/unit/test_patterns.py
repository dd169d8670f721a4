"""Glob and regex patterns: Go path.Match semantics, anchored regexes, escaping."""

from __future__ import annotations

import pytest

from regauth.patterns.acl import PatternError, compile_pattern, glob_to_regex, validate_pattern

NO_VARS: dict[str, str] = {}


def matches(pattern: str, value: str, **variables: str) -> bool:
    return compile_pattern(pattern).matches(value, variables, {}, {})


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("alice", "alice", True),
        ("alice", "alice2", False),
        ("", "", True),
        ("", "x", False),
        ("*", "anything", True),
        ("*", "", True),
        ("*", "a/b", False),  # * does not cross /
        ("team/*", "team/app", True),
        ("team/*", "team/app/sub", False),
        ("team/*/*", "team/app/sub", True),
        ("test-*", "test-app", True),
        ("test-*", "other/test-app", False),
        ("f??bar", "foobar", True),
        ("f??bar", "f/obar", False),
        ("[abc]x", "bx", True),
        ("[^abc]x", "dx", True),
        ("[^abc]x", "ax", False),
        ("[a-c]*", "cat", True),
        ("[a-c]*", "dog", False),
        (r"a\*b", "a*b", True),
        (r"a\*b", "axb", False),
        ("a.b", "a.b", True),
        ("a.b", "axb", False),  # regex metacharacters are literal in globs
        ("a+b", "a+b", True),
        ("{x}", "{x}", True),
        # regexes are anchored: docker_auth would let /admin/ match "not-admin"
        ("/admin/", "admin", True),
        ("/admin/", "not-admin", False),
        ("/admin/", "admin2", False),
        ("/.+/", "alice", True),
        ("/.+/", "", False),
        ("/trainee|dev/", "dev", True),
        ("/trainee|dev/", "trainee", True),
        ("/trainee|dev/", "developer", False),
        ("/^(.+)@test.com$/", "bob@test.com", True),
        ("//", "//", True),  # too short to be a regex: a literal
    ],
)
def test_static_patterns(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize("pattern", ["[abc", "a\\", "[]", "[z-a]", "/(unclosed/", "/[/"])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(PatternError):
        validate_pattern(pattern)


def test_literal_fast_path() -> None:
    assert compile_pattern("alice").literal == "alice"
    assert compile_pattern("team/*").literal is None
    assert compile_pattern("/x/").literal is None
    assert compile_pattern("${account}").literal is None


def test_placeholder_values_are_escaped_in_globs() -> None:
    # an account called "*" must not become a wildcard
    assert matches("${account}/*", "*/app", account="*")
    assert not matches("${account}/*", "bob/app", account="*")
    assert not matches("${account}/*", "b/app", account="?")
    assert not matches("${account}/*", "a/app", account="[ab]")


def test_placeholder_values_are_escaped_in_regexes() -> None:
    assert matches("/${account}-.*/", "a.b-x", account="a.b")
    assert not matches("/${account}-.*/", "aXb-x", account="a.b")
    assert not matches("/${account}/", "anything", account=".*")


def test_glob_to_regex_is_total_for_plain_text() -> None:
    assert glob_to_regex("abc") == "abc"
