"""Grant nothing that is not understood (Distribution "Token Scope Documentation"): unknown
resource types and actions, the OAuth2 answer's ``scope`` field, and ACL placeholders naming a
capture group their regex lacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from regauth.authn.base import Identity, Kind
from regauth.authz.base import AccessContext, Decision, not_understood
from regauth.authz.chain import AuthorizerChain
from regauth.authz.grants import GrantAuthorizer, GrantRule, GrantSnapshot
from regauth.cli import main
from regauth.config import acl_warnings, parse_config
from regauth.patterns.repository import compile_repository_pattern
from regauth.protocol.request import parse_get, parse_post
from regauth.protocol.scope import parse_scope
from regauth.service import ClientInfo
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.unit.test_acl import acl_from, decide, granted
from tests.unit.test_request import basic

CLIENT = ClientInfo(address=None, user_agent="test")
FORM = "application/x-www-form-urlencoded"


# ------------------------------------------------------------------------------ ACL rules


@pytest.mark.parametrize(
    ("rule", "scope", "expected"),
    [
        # "*" never stands for an unknown type or action
        ({"match": {}, "actions": ["*"]}, "foo:bar:pull", ()),
        ({"match": {}, "actions": ["*"]}, "repository:x:pull,frob", ("pull",)),
        ({"match": {}, "actions": ["*"]}, "repository:x:frob", ()),
        ({"match": {}, "actions": ["*"]}, "repository:x:*,frob", ("*",)),
        ({"match": {}, "actions": ["*"]}, "registry:catalog:*", ("*",)),
        ({"match": {}, "actions": ["*"]}, "repository(plugin):x:pull,push", ("pull", "push")),
        ({"match": {"account": "u"}, "actions": ["*"]}, "foo:bar:*", ()),
        # a list grants exactly what it names
        ({"match": {}, "actions": ["pull"]}, "repository:x:pull,frob,push", ("pull",)),
        ({"match": {}, "actions": ["pull"]}, "repository:x:frob", ()),
        # a type is named only literally: no glob, no regex, no placeholder stands for it
        ({"match": {"type": "foo"}, "actions": ["*"]}, "foo:bar:pull,push", ("pull", "push")),
        ({"match": {"type": "foo"}, "actions": ["*"]}, "foo:bar:frob", ()),
        ({"match": {"type": "foo"}, "actions": ["frob"]}, "foo:bar:frob,pull", ("frob",)),
        ({"match": {"type": "f*"}, "actions": ["*"]}, "foo:bar:pull", ()),
        ({"match": {"type": "/fo+/"}, "actions": ["*"]}, "foo:bar:pull", ()),
        ({"match": {"type": "/.*/"}, "actions": ["pull"]}, "foo:bar:pull", ()),
        (
            {"match": {"type": "foo"}, "actions": ["*", "frob"]},
            "foo:bar:pull,frob,zap",
            ("pull", "frob"),
        ),
    ],
)
def test_acl_grants_nothing_it_does_not_understand(
    rule: dict[str, Any], scope: str, expected: tuple[str, ...]
) -> None:
    acl = acl_from([rule])
    decision = decide(acl, "u", scope)
    assert decision is not None  # the matching rule still decides: first match wins
    assert decision.decided_by == "acl[0]"
    assert decision.granted == expected


def test_a_rule_that_names_the_type_must_come_first() -> None:
    acl = acl_from(
        [
            {"match": {"account": "admin"}, "actions": ["*"]},
            {"match": {"type": "helm"}, "actions": ["pull"]},
        ]
    )
    assert granted(acl, "admin", "helm:charts/x:pull") == ()  # acl[0] decided, granting nothing
    assert granted(acl, "bob", "helm:charts/x:pull") == ("pull",)


# ------------------------------------------------------------------------------ role grants


def _grants(*rules: GrantRule) -> GrantAuthorizer:
    snapshot = GrantSnapshot()
    for rule in rules:
        snapshot.by_user[rule.subject or ""].append(rule)
    return GrantAuthorizer(snapshot)


def _context(subject: str, *, is_admin: bool = False) -> AccessContext:
    return AccessContext(Identity(subject, "database", kind=Kind.USER, is_admin=is_admin), "reg")


def test_role_grants_never_give_unknown_types_or_actions() -> None:
    rule = GrantRule(1, "user", "bob", "team/*", "admin", compile_repository_pattern("team/*"))
    grants = _grants(rule)
    bob = _context("bob")
    decision = grants.decide(bob, parse_scope("repository:team/app:pull,frob,*"))
    assert decision is not None
    assert decision.granted == ("pull",)
    assert grants.decide(bob, parse_scope("foo:team/app:pull")) is None
    own = grants.decide(bob, parse_scope("repository:bob/app:push,frob"))  # the user namespace
    assert own is not None and own.granted == ("push",)
    admin = _context("root", is_admin=True)
    catalog = grants.decide(admin, parse_scope("registry:catalog:*,frob"))
    assert catalog is not None and catalog.granted == ("*",)
    plugin = grants.decide(bob, parse_scope("repository(plugin):team/p:pull"))
    assert plugin is not None and plugin.granted == ("pull",)


async def test_the_chain_explains_what_it_did_not_understand() -> None:
    chain = AuthorizerChain([_grants()])
    decision = await chain.decide(_context("bob"), parse_scope("foo:bar:pull"))
    assert decision.granted == ()
    assert not_understood(decision.scope, decision.granted) == (
        "unknown resource type foo: granted only by an ACL rule that names it (match.type: foo)",
    )
    partial = Decision(parse_scope("foo:x:pull,frob,zap"), ("pull", "zap"), "acl[0]")
    assert not_understood(partial.scope, partial.granted) == (
        "unknown action frob: granted only by a rule that names it",
    )
    assert not_understood(parse_scope("repository:x:pull,*"), ()) == ()


# --------------------------------------------------------- capture groups the regex lacks


DOCKER_AUTH_CAPTURES = [
    {"match": {"account": r"/(.+)@test\.com/", "name": "${account:3}/*"}, "actions": ["*"]},
    {"match": {"account": r"/(.+)@test\.com/", "name": "${account:1}/*"}, "actions": ["pull"]},
]


def test_a_missing_capture_group_is_accepted_and_never_matches() -> None:
    """docker_auth's own test: ``${account:3}`` against a regex with one group."""
    config = parse_config({"acl": DOCKER_AUTH_CAPTURES}, environ={})
    assert acl_warnings(config.acl) == [
        "acl[0]: ${account:3} names capture group 3, but match.account has only 1: "
        "the rule never matches"
    ]
    acl = acl_from(DOCKER_AUTH_CAPTURES)
    decision = decide(acl, "john.smith@test.com", "repository:john.smith/test:pull,push")
    assert decision is not None
    assert (decision.decided_by, decision.granted) == ("acl[1]", ("pull",))
    assert acl_warnings(parse_config({"acl": DOCKER_AUTH_CAPTURES[1:]}, environ={}).acl) == []
    no_groups = {"match": {"account": "/x/", "name": "${account:1}"}, "actions": []}
    assert acl_warnings(parse_config({"acl": [no_groups]}, environ={}).acl) == [
        "acl[0]: ${account:1} names capture group 1, but match.account has none: "
        "the rule never matches"
    ]


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_check_config_warns_and_explain_says_why(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(
        yaml.safe_dump({"acl": [*DOCKER_AUTH_CAPTURES, {"match": {}, "actions": ["*"]}]})
    )
    data = str(tmp_path / "data")
    checked = run("check-config", "--config", str(config), "--data-dir", data)
    assert checked.exit_code == 0, checked.output
    assert "warning: acl[0]: ${account:3} names capture group 3" in checked.output
    explained = run(
        "policy", "explain", "--config", str(config), "--data-dir", data,
        "--account", "bob", "foo:bar:pull", "repository:x:pull,frob",
    )  # fmt: skip
    assert explained.exit_code == 1
    assert (
        "why:     unknown resource type foo: granted only by an ACL rule that names it"
        in explained.output
    )
    assert "why:     unknown action frob: granted only by a rule that names it" in explained.output
    as_json = run(
        "policy", "explain", "--config", str(config), "--data-dir", data,
        "--account", "bob", "--json", "repository:x:pull,frob",
    )  # fmt: skip
    scope = json.loads(as_json.output)["scopes"][0]
    assert (scope["granted"], scope["denied"], scope["decided_by"]) == (
        ["pull"],
        ["frob"],
        "acl[2]",
    )
    assert scope["notes"] == ["unknown action frob: granted only by a rule that names it"]


# ------------------------------------------------------------------ the OAuth2 answer's scope


def _service_config() -> dict[str, Any]:
    return {
        "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
        "acl": [
            {"match": {"account": "alice", "name": "team/*"}, "actions": ["pull", "push"]},
            {"match": {"account": "alice"}, "actions": ["pull"]},
        ],
    }


async def test_the_oauth2_answer_carries_the_granted_scope(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(_service_config())
    scopes = "repository:team/app:pull,push,delete repository:other:push repository(plugin):p:pull"
    form = f"grant_type=password&username=alice&password=alice-pw&scope={scopes}"
    issued = await runtime.service.issue(parse_post(form.encode(), FORM), CLIENT)
    assert issued.body["scope"] == "repository:team/app:pull,push repository(plugin):p:pull"
    nothing = await runtime.service.issue(
        parse_post(b"grant_type=password&username=alice&password=alice-pw", FORM), CLIENT
    )
    assert nothing.body["scope"] == ""  # required even when nothing was asked or granted
    get = await runtime.service.issue(
        parse_get("scope=repository:team/app:pull", basic("alice", "alice-pw")), CLIENT
    )
    assert "scope" not in get.body  # the GET answer is unchanged
