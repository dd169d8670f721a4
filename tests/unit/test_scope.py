"""Scope grammar: table-driven, hostile input, and a property test that nothing but
InvalidRequest ever escapes the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.protocol.errors import InvalidRequest
from regauth.protocol.scope import MAX_SCOPES, Scope, merge_scopes, parse_scope, parse_scopes

VALID = [
    ("repository:alice/app:pull", Scope("repository", "alice/app", ("pull",))),
    ("repository:alice/app:pull,push", Scope("repository", "alice/app", ("pull", "push"))),
    ("repository:app:*", Scope("repository", "app", ("*",))),
    ("repository:a/b/c/d:delete", Scope("repository", "a/b/c/d", ("delete",))),
    ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
    (
        "repository(plugin):team/app:pull",
        Scope("repository", "team/app", ("pull",), resource_class="plugin"),
    ),
    # a host:port inside the name: actions are split off at the last colon
    (
        "repository:localhost:5000/team/app:pull,push",
        Scope("repository", "localhost:5000/team/app", ("pull", "push")),
    ),
    (
        "repository:Registry.Example.com:443/x:pull",
        Scope("repository", "Registry.Example.com:443/x", ("pull",)),
    ),
    (
        "repository:my_app.v2/sub-part__x:pull",
        Scope("repository", "my_app.v2/sub-part__x", ("pull",)),
    ),
    ("repository:a--b:pull", Scope("repository", "a--b", ("pull",))),
    # repeated actions collapse, order kept
    ("repository:app:push,pull,push", Scope("repository", "app", ("push", "pull"))),
    # an unknown action is grammatical; the ACL decides (and grants nothing for it)
    ("repository:app:frobnicate", Scope("repository", "app", ("frobnicate",))),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_scopes(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected type:name:actions"),
        ("repository", "expected type:name:actions"),
        ("repository:app", "expected type:name:actions"),
        ("repository::pull", "resource name"),
        (":app:pull", "bad resource type"),
        ("Repository:app:pull", "bad resource type"),
        ("repo sitory:app:pull", "bad resource type"),
        ("repository(:app:pull", "bad resource type"),
        ("repository(x)(y):app:pull", "bad resource type"),
        ("repository:app:", "invalid action"),
        ("repository:app:pull,", "invalid action"),
        ("repository:app:,pull", "invalid action"),
        ("repository:app:PULL", "invalid action"),
        ("repository:app:pu ll", "invalid action"),
        ("repository:app:pull;rm -rf", "invalid action"),
        ("repository:App:pull", "invalid repository name"),
        ("repository:app/:pull", "invalid repository name"),
        ("repository:/app:pull", "invalid repository name"),
        ("repository:a//b:pull", "invalid repository name"),
        ("repository:../etc/passwd:pull", "invalid repository name"),
        ("repository:app\x00:pull", "invalid repository name"),
        ("repository:app\n:pull", "invalid repository name"),
        ("repository:äpp:pull", "invalid repository name"),
        ("repository:a.:pull", "invalid repository name"),
        ("repository:" + "a" * 256 + ":pull", "1 to 255 characters"),
        ("registry:cat alog:*", "invalid registry name"),
        ("registry:-catalog:*", "invalid registry name"),
        ("x" * 2000, "longer than"),
    ],
)
def test_malformed_scopes_are_invalid_requests(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_scope(text)
    assert fragment in caught.value.message
    assert caught.value.status == 400
    assert caught.value.docker_body()["errors"][0]["message"] == caught.value.message


def test_error_message_names_the_scope_and_is_printable() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_scope("repository:bad\x1bname:pull")
    message = caught.value.message
    assert "repository:bad\\x1bname:pull" in message
    assert "\x1b" not in message


def test_space_separated_and_repeated_parameters() -> None:
    scopes = parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"])
    assert [str(s) for s in scopes] == [
        "repository:a:pull",
        "repository:b:push",
        "registry:catalog:*",
    ]


def test_empty_parameters_mean_no_scope() -> None:
    assert parse_scopes([""]) == ()
    assert parse_scopes(["  "]) == ()
    assert parse_scopes([]) == ()


def test_repeated_scopes_merge_per_resource() -> None:
    # podman repeats a scope; containers/image adds to it after insufficient_scope
    scopes = parse_scopes(
        ["repository:x:*", "repository:x:delete", "repository:y:pull", "repository:x:pull,*"]
    )
    assert scopes == (
        Scope("repository", "x", ("*", "delete", "pull")),
        Scope("repository", "y", ("pull",)),
    )


def test_merge_keeps_first_class() -> None:
    merged = merge_scopes(
        [Scope("repository", "x", ("pull",), "plugin"), Scope("repository", "x", ("push",))]
    )
    assert merged == (Scope("repository", "x", ("pull", "push"), "plugin"),)


def test_too_many_scopes() -> None:
    many = " ".join(f"repository:r{i}:pull" for i in range(MAX_SCOPES + 1))
    with pytest.raises(InvalidRequest, match="too many scopes"):
        parse_scopes([many])
    assert len(parse_scopes([" ".join(f"repository:r{i}:pull" for i in range(MAX_SCOPES))])) == (
        MAX_SCOPES
    )


def test_str_round_trips() -> None:
    for text, _ in VALID:
        scope = parse_scope(text)
        assert parse_scope(str(scope)) == scope


@given(st.text(max_size=300))
def test_parser_raises_only_invalid_request(text: str) -> None:
    try:
        scopes = parse_scopes([text])
    except InvalidRequest as exc:
        assert exc.status == 400
        assert exc.message
    else:
        for scope in scopes:
            assert scope.actions
            assert scope.name


@given(
    st.from_regex(r"[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,3}", fullmatch=True),
    st.lists(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1, max_size=4),
)
def test_generated_repository_scopes_parse(name: str, actions: list[str]) -> None:
    scope = parse_scope(f"repository:{name}:{','.join(actions)}")
    assert scope.name == name
    assert list(scope.actions) == list(dict.fromkeys(actions))
