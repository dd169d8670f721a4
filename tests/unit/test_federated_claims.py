"""Federated robots' pure parts: the glob, the claim checks, and the robot's rule checks."""

from __future__ import annotations

import pytest

from regauth.accounts import InvalidInput, check_federation, parse_claim_conditions
from regauth.oidc.errors import TokenRejected
from regauth.oidc.federated_claims import (
    FederationRule,
    check_claims,
    glob_match,
    identifying_claims,
)

NOW = 1_800_000_000.0
ISSUER = "https://token.actions.githubusercontent.com"
RULE = FederationRule(
    ISSUER, "https://regauth.example", {"repository": ("acme/api",), "ref": ("refs/tags/v*",)}
)


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("acme/api", "acme/api", True),
        ("acme/api", "acme/api2", False),
        ("acme/*", "acme/api", True),
        ("acme/*", "acme/", True),
        ("acme/*", "acmes/api", False),
        ("*", "", True),
        ("refs/tags/v*", "refs/tags/v1.2.3", True),
        ("refs/tags/v*", "refs/heads/v1", False),
        ("*/api", "team/sub/api", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("a?c", "abc", False),  # only * is special
        ("a?c", "a?c", True),
        ("*" * 30 + "b", "a" * 200, False),  # no exponential backtracking
    ],
)
def test_glob_match(pattern: str, value: str, matches: bool) -> None:
    assert glob_match(pattern, value) is matches


def claims(**extra: object) -> dict[str, object]:
    return {
        "iss": ISSUER,
        "aud": "https://regauth.example",
        "exp": NOW + 300,
        "iat": NOW,
        "nbf": NOW,
        "sub": "repo:acme/api:ref:refs/tags/v1",
        "repository": "acme/api",
        "ref": "refs/tags/v1",
        **extra,
    }


def test_matching_claims_pass() -> None:
    check_claims(claims(), RULE, now=NOW, leeway=60)
    check_claims(
        claims(aud=["x", "https://regauth.example"], iss=ISSUER + "/"), RULE, now=NOW, leeway=60
    )


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"iss": "https://gitlab.com"}, "from issuer 'https://gitlab.com'"),
        ({"aud": "sts.amazonaws.com"}, "wrong audience"),
        ({"aud": ["a", "b"]}, "wrong audience"),
        ({"exp": NOW}, "expired 0 s ago"),
        ({"exp": NOW - 1}, "expired"),
        ({"exp": "soon"}, "exp is not a number"),
        ({"exp": None}, "has no exp"),
        ({"nbf": NOW + 61}, "nbf is 61 s in the future"),
        ({"iat": NOW + 3600}, "iat is 3600 s in the future"),
        ({"ref": "refs/heads/main"}, "claim mismatch: ref is 'refs/heads/main'"),
        ({"repository": ["acme/api"]}, None),  # a list: one item matching is enough
        ({"repository": {"name": "acme/api"}}, "claim mismatch: repository is a dict"),
        ({"repository": None}, "claim mismatch"),
    ],
)
def test_claim_checks(changed: dict[str, object], reason: str | None) -> None:
    token = claims(**changed)
    token = {k: v for k, v in token.items() if v is not None or k == "repository"}
    if reason is None:
        check_claims(token, RULE, now=NOW, leeway=60)
        return
    with pytest.raises(TokenRejected) as raised:
        check_claims(token, RULE, now=NOW, leeway=60)
    assert reason in raised.value.message


def test_a_missing_claim_is_named() -> None:
    token = claims()
    del token["ref"]
    with pytest.raises(TokenRejected, match="has no 'ref' claim"):
        check_claims(token, RULE, now=NOW, leeway=60)


def test_booleans_and_numbers_compare_as_text() -> None:
    rule = FederationRule(ISSUER, "a", {"ref_protected": ("true",), "project_id": ("42",)})
    check_claims(
        {"iss": ISSUER, "aud": "a", "exp": NOW + 1, "ref_protected": True, "project_id": 42},
        rule,
        now=NOW,
        leeway=0,
    )


def test_identifying_claims_keep_who_and_which_run() -> None:
    found = identifying_claims(claims(run_id="77", jti="j1", secretish={"x": 1}), RULE.conditions)
    assert found == {
        "iss": ISSUER,
        "sub": "repo:acme/api:ref:refs/tags/v1",
        "jti": "j1",
        "repository": "acme/api",
        "ref": "refs/tags/v1",
        "run_id": "77",
    }


@pytest.mark.parametrize(
    ("issuer", "audience", "conditions", "message"),
    [
        ("ftp://x", None, {"a": ["b"]}, "invalid issuer"),
        ("http://ci.example.com", None, {"a": ["b"]}, "must be https://"),
        ("https://x?y=1", None, {"a": ["b"]}, "invalid issuer"),
        (ISSUER, None, {}, "at least one claim condition"),
        (ISSUER, None, {"exp": ["1"]}, "cannot be a condition"),
        (ISSUER, None, {"a b": ["1"]}, "invalid claim name"),
        (ISSUER, None, {"a": []}, "has no value"),
        (ISSUER, None, {"a": [""]}, "invalid value"),
        (ISSUER, None, {"a": ["x\n"]}, "invalid value"),
        (ISSUER, None, {"a": ["*"]}, "would accept any token"),
        (ISSUER, "", {"a": ["b"]}, "invalid audience"),
        (ISSUER, None, {f"c{i}": ["v"] for i in range(21)}, "at most 20"),
    ],
)
def test_federation_rules(
    issuer: str, audience: str | None, conditions: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_federation(issuer, audience, conditions)


def test_federation_is_normalised() -> None:
    federation = check_federation(
        "http://127.0.0.1:8080/", None, parse_claim_conditions(["ref=a", "ref=b", "ref=a", "x=y=z"])
    )
    assert federation.issuer == "http://127.0.0.1:8080"  # http on loopback only
    assert dict(federation.claims) == {"ref": ("a", "b"), "x": ("y=z",)}
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_claim_conditions(["novalue"])
