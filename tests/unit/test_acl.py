"""The ACL engine: first match wins, every match key and placeholder, docker_auth's examples."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regauth.authn.base import Identity
from regauth.authz.acl import AclAuthorizer
from regauth.authz.base import AccessContext, Decision
from regauth.config import load_config, parse_config
from regauth.protocol.scope import Scope, parse_scope

DATA = Path(__file__).parent.parent / "data"


def acl_from(rules: list[dict[str, Any]]) -> AclAuthorizer:
    return AclAuthorizer.from_config(parse_config({"acl": rules}, environ={}).acl)


def decide(
    acl: AclAuthorizer,
    account: str,
    scope: str,
    *,
    labels: dict[str, list[str]] | None = None,
    service: str = "registry",
    ip: str | None = None,
) -> Decision | None:
    identity = Identity(
        account, "test", MappingProxyType({k: tuple(v) for k, v in (labels or {}).items()})
    )
    context = AccessContext(identity, service, ipaddress.ip_address(ip) if ip is not None else None)
    return acl.decide(context, parse_scope(scope))


def granted(acl: AclAuthorizer, account: str, scope: str, **kwargs: Any) -> tuple[str, ...]:
    decision = decide(acl, account, scope, **kwargs)
    return () if decision is None else decision.granted


def test_first_match_wins_and_empty_actions_deny() -> None:
    acl = acl_from(
        [
            {"match": {"account": "bob", "name": "secret/*"}, "actions": []},
            {"match": {"account": "bob"}, "actions": ["*"]},
        ]
    )
    decision = decide(acl, "bob", "repository:secret/x:pull")
    assert decision is not None
    assert decision.granted == ()
    assert decision.decided_by == "acl[0]"
    assert granted(acl, "bob", "repository:public/x:pull,push") == ("pull", "push")


def test_no_match_is_no_opinion() -> None:
    acl = acl_from([{"match": {"account": "bob"}, "actions": ["*"]}])
    assert decide(acl, "alice", "repository:x:pull") is None


@pytest.mark.parametrize(
    ("actions", "requested", "expected"),
    [
        (["*"], "pull,push", ("pull", "push")),
        (["*"], "*", ("*",)),
        (["pull"], "pull,push", ("pull",)),
        (["pull", "push"], "push", ("push",)),
        (["pull", "push"], "*", ()),  # "*" is only granted by a "*" rule
        (["pull", "delete"], "*,delete", ("delete",)),
        ([], "pull", ()),
        (["pull"], "frobnicate", ()),
    ],
)
def test_actions_are_requested_intersect_permitted(
    actions: list[str], requested: str, expected: tuple[str, ...]
) -> None:
    acl = acl_from([{"match": {}, "actions": actions}])
    assert granted(acl, "u", f"repository:x:{requested}") == expected


def test_match_on_type_service_and_ip() -> None:
    acl = acl_from(
        [
            {"match": {"type": "registry", "name": "catalog"}, "actions": ["*"], "comment": "cat"},
            {"match": {"service": "other"}, "actions": ["pull"]},
            {"match": {"ip": "10.0.0.0/8"}, "actions": ["pull", "push"]},
            {"match": {"ip": "2001:db8::1"}, "actions": ["delete"]},
        ]
    )
    decision = decide(acl, "u", "registry:catalog:*")
    assert decision is not None
    assert decision.granted == ("*",)
    assert decision.comment == "cat"
    assert granted(acl, "u", "repository:catalog:pull") == ()  # type must match
    assert granted(acl, "u", "repository:x:pull", service="other") == ("pull",)
    assert granted(acl, "u", "repository:x:pull,push", ip="10.1.2.3") == ("pull", "push")
    assert granted(acl, "u", "repository:x:pull,push", ip="11.1.2.3") == ()
    assert granted(acl, "u", "repository:x:delete", ip="2001:db8::1") == ("delete",)
    assert granted(acl, "u", "repository:x:pull") == ()  # no client address: ip rules skip


@pytest.mark.parametrize(
    ("rule", "account", "scope", "labels", "service", "expected"),
    [
        # ${account}
        ({"name": "${account}/*"}, "alice", "repository:alice/app:pull", {}, "registry", True),
        ({"name": "${account}/*"}, "alice", "repository:bob/app:pull", {}, "registry", False),
        # ${name}: a rule that matches when the account equals the repository name
        ({"account": "${name}"}, "app", "repository:app:pull", {}, "registry", True),
        ({"account": "${name}"}, "bob", "repository:app:pull", {}, "registry", False),
        # ${type}
        ({"name": "${type}-*"}, "u", "repository:repository-x:pull", {}, "registry", True),
        ({"name": "${type}-*"}, "u", "repository:registry-x:pull", {}, "registry", False),
        # ${service}
        ({"name": "${service}/*"}, "u", "repository:registry/x:pull", {}, "registry", True),
        ({"name": "${service}/*"}, "u", "repository:other/x:pull", {}, "registry", False),
        # ${labels:KEY}: any value of the label
        (
            {"name": "${labels:team}/*"},
            "u",
            "repository:red/x:pull",
            {"team": ["blue", "red"]},
            "registry",
            True,
        ),
        (
            {"name": "${labels:team}/*"},
            "u",
            "repository:green/x:pull",
            {"team": ["blue", "red"]},
            "registry",
            False,
        ),
        ({"name": "${labels:team}/*"}, "u", "repository:red/x:pull", {}, "registry", False),
        # two label placeholders: their combinations
        (
            {"name": "${labels:project}-${labels:tier}/*"},
            "u",
            "repository:web-prod/x:pull",
            {"project": ["api", "web"], "tier": ["dev", "prod"]},
            "registry",
            True,
        ),
        (
            {"name": "${labels:project}-${labels:tier}/*"},
            "u",
            "repository:web-qa/x:pull",
            {"project": ["api", "web"], "tier": ["dev", "prod"]},
            "registry",
            False,
        ),
        # capture groups from the account regex
        (
            {"account": "/(.+)@example\\.com/", "name": "${account:1}/*"},
            "bob@example.com",
            "repository:bob/app:pull",
            {},
            "registry",
            True,
        ),
        (
            {"account": "/(.+)@example\\.com/", "name": "${account:1}/*"},
            "bob@example.com",
            "repository:alice/app:pull",
            {},
            "registry",
            False,
        ),
        (
            {"account": "/(.+)@example\\.com/", "name": "${account:1}/*"},
            "bob@other.com",
            "repository:bob/app:pull",
            {},
            "registry",
            False,
        ),
        # capture group from the name regex, used in the account
        (
            {"name": "/team-([a-z]+)/.*/", "account": "${name:1}-bot"},
            "red-bot",
            "repository:team-red/app:pull",
            {},
            "registry",
            True,
        ),
        (
            {"name": "/team-([a-z]+)/.*/", "account": "${name:1}-bot"},
            "blue-bot",
            "repository:team-red/app:pull",
            {},
            "registry",
            False,
        ),
        # placeholders inside regexes are escaped
        ({"name": "/${account}\\/.*/"}, "a.b", "repository:a.b/x:pull", {}, "registry", True),
        ({"name": "/${account}\\/.*/"}, "a.b", "repository:axb/x:pull", {}, "registry", False),
        # labels match key
        (
            {"labels": {"group": "admins"}},
            "u",
            "repository:x:pull",
            {"group": ["dev", "admins"]},
            "registry",
            True,
        ),
        (
            {"labels": {"group": "admins"}},
            "u",
            "repository:x:pull",
            {"group": ["dev"]},
            "registry",
            False,
        ),
        (
            {"labels": {"group": "admins", "site": "/eu-.*/"}},
            "u",
            "repository:x:pull",
            {"group": ["admins"], "site": ["eu-west"]},
            "registry",
            True,
        ),
        (
            {"labels": {"group": "admins", "site": "/eu-.*/"}},
            "u",
            "repository:x:pull",
            {"group": ["admins"]},
            "registry",
            False,
        ),
        (
            {"labels": {"group": "${account}s"}},
            "admin",
            "repository:x:pull",
            {"group": ["admins"]},
            "registry",
            True,
        ),
    ],
)
def test_placeholders(
    rule: dict[str, Any],
    account: str,
    scope: str,
    labels: dict[str, list[str]],
    service: str,
    expected: bool,
) -> None:
    acl = acl_from([{"match": rule, "actions": ["*"]}])
    assert (decide(acl, account, scope, labels=labels, service=service) is not None) is expected


def test_label_values_cannot_act_as_wildcards() -> None:
    acl = acl_from([{"match": {"name": "${labels:team}/*"}, "actions": ["*"]}])
    assert granted(acl, "u", "repository:red/x:pull", labels={"team": ["*"]}) == ()


def test_docker_auth_reference_examples() -> None:
    config = load_config(DATA / "docker_auth_reference.yml", environ={})
    acl = AclAuthorizer.from_config(config.acl)
    assert len(acl.rules) == 16
    # localhost gets everything
    assert granted(acl, "x", "repository:a:pull,push", ip="127.0.0.1") == ("pull", "push")
    assert granted(acl, "x", "repository:a:push", ip="::1") == ("push",)
    assert granted(acl, "admin", "repository:any/thing:pull,push,delete", ip="192.0.2.1") == (
        "pull",
        "push",
        "delete",
    )
    assert granted(acl, "test", "repository:test-app:push", ip="192.0.2.1") == ("push",)
    decision = decide(acl, "test", "repository:other:pull", ip="192.0.2.1")
    assert decision is not None
    assert (decision.granted, decision.decided_by) == ((), "acl[5]")
    assert granted(acl, "alice", "repository:alice/app:push", ip="192.0.2.1") == ("push",)
    assert granted(acl, "alice", "repository:bob/app:pull,push", ip="192.0.2.1") == ("pull",)
    assert granted(acl, "alice", "registry:catalog:*", ip="192.0.2.1") == ("*",)
    assert granted(acl, "", "repository:hello-world:pull", ip="192.0.2.1") == ("pull",)
    assert granted(acl, "", "repository:other:pull", ip="192.0.2.1") == ()
    # the last rule has a typo ({labels:tier} without $): it loads and never matches a
    # valid repository name
    assert acl.rules[15].name is not None
    assert acl.rules[15].name.label_keys == ("project",)
    assert granted(
        acl, "", "repository:web/x:push", ip="192.0.2.1", labels={"project": ["web"]}
    ) == ("push",)
    assert granted(
        acl, "", "repository:dev-shared/x:push", ip="192.0.2.1", labels={"group": ["dev"]}
    ) == ("push",)


RULE_STRATEGY = st.fixed_dictionaries(
    {},
    optional={
        "account": st.sampled_from(["alice", "bob", "", "/.+/", "a*", "${name}"]),
        "name": st.sampled_from(
            [
                "alice/*",
                "team/*",
                "team/app",
                "hello-world",
                "${account}/*",
                "/te.*/",
                "*",
                "team",
                "t?am/*",
                "[ab]*/x",
            ]
        ),
        "type": st.sampled_from(["repository", "registry"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(RULE_STRATEGY, st.sampled_from([["*"], ["pull"], [], ["push", "pull"]])),
        max_size=12,
    ),
    st.sampled_from(["alice", "bob", "carol", ""]),
    st.sampled_from(["alice/app", "team/app", "team", "hello-world", "bob/x", "tam/y", "b/x"]),
)
def test_index_finds_the_same_first_match_as_a_linear_scan(
    rules: list[tuple[dict[str, str], list[str]]], account: str, name: str
) -> None:
    acl = acl_from([{"match": m, "actions": a} for m, a in rules])
    identity = Identity(account, "test")
    context = AccessContext(identity, "registry", None)
    scope = Scope("repository", name, ("pull", "push"))
    linear = next((r for r in acl.rules if r.matches(context, scope)), None)
    decision = acl.decide(context, scope)
    if linear is None:
        assert decision is None
    else:
        assert decision is not None
        assert decision.decided_by == linear.label
