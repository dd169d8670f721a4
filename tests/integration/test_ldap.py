"""The LDAP backend against a real OpenLDAP slapd (tests/ldap_server.py): both ways of finding
users, groups into regauth groups, labels and grants, injection, TLS, connection reuse,
outages, and the log's discretion.

One slapd serves the module; every test adds users and groups under names of its own. Tests
that stop or restart a directory start their own.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from regauth.authn.base import Outcome
from regauth.authn.ldap import (
    DirectoryUser,
    LdapAuthenticator,
    LdapConfigError,
    LdapDirectory,
    group_filter,
    group_name_from_dn,
    user_dn,
    user_filter,
)
from regauth.config import ConfigError, parse_config
from regauth.events import configure_logging
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret
from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.ldap_server import LdapServer, LdapUser, make_ca

ClientFor = Callable[..., httpx.AsyncClient]
LdapRuntime = Callable[..., Runtime]


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    with LdapServer(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture
async def ldap_runtime(make_runtime: RuntimeFactory) -> AsyncIterator[LdapRuntime]:
    """``make_runtime`` whose runtimes are stopped (LDAP threads and connections closed)."""
    made: list[Runtime] = []

    def factory(raw: dict[str, Any]) -> Runtime:
        runtime = make_runtime(raw)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        await runtime.stop()


def search_config(server: LdapServer, **overrides: Any) -> dict[str, Any]:
    """The ``ldap:`` section for search-then-bind as the service account."""
    return {
        "url": server.url,
        "bind_dn": server.service_dn,
        "bind_password": server.service_password,
        "base_dn": server.suffix,
        "timeout": 2,
        **overrides,
    }


def bind_config(server: LdapServer, **overrides: Any) -> dict[str, Any]:
    """The ``ldap:`` section for bind-as-the-user."""
    return {
        "url": server.url,
        "user_dn_template": f"uid={{username}},{server.people}",
        "timeout": 2,
        **overrides,
    }


def ldap_of(runtime: Runtime) -> LdapAuthenticator:
    (found,) = [a for a in runtime.authenticators.authenticators if a.name == "ldap"]
    assert isinstance(found, LdapAuthenticator)
    return found


def new_user(server: LdapServer, prefix: str = "u", **kwargs: Any) -> LdapUser:
    uid = server.unique(prefix)
    return server.add_user(uid, f"{uid}-pw", mail=f"{uid}@example.com", **kwargs)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("bob", "(&(objectClass=person)(uid=bob))"),
        ("*", "(&(objectClass=person)(uid=\\2a))"),
        ("bob)(uid=*", "(&(objectClass=person)(uid=bob\\29\\28uid=\\2a))"),
        ("*)(|(uid=*", "(&(objectClass=person)(uid=\\2a\\29\\28|\\28uid=\\2a))"),
        ("back\\slash", "(&(objectClass=person)(uid=back\\5cslash))"),
        ("nul\x00byte", "(&(objectClass=person)(uid=nul\\00byte))"),
        ("{username}", "(&(objectClass=person)(uid={username}))"),
    ],
)
def test_user_filter_escapes_the_name(username: str, expected: str) -> None:
    assert user_filter("(&(objectClass=person)(uid={username}))", username) == expected


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("bob", "uid=bob,ou=people,dc=example,dc=com"),
        ("a,ou=services", "uid=a\\,ou\\=services,ou=people,dc=example,dc=com"),
        ("x+cn=y", "uid=x\\+cn\\=y,ou=people,dc=example,dc=com"),
        (" lead", "uid=\\ lead,ou=people,dc=example,dc=com"),
        ("#hash", "uid=\\#hash,ou=people,dc=example,dc=com"),
        ("back\\slash", "uid=back\\\\slash,ou=people,dc=example,dc=com"),
        ("nul\x00byte", "uid=nul\\00byte,ou=people,dc=example,dc=com"),
        ("\\\x00", "uid=\\\\\\00,ou=people,dc=example,dc=com"),
    ],
)
def test_user_dn_escapes_the_name(username: str, expected: str) -> None:
    assert user_dn("uid={username},ou=people,dc=example,dc=com", username) == expected


def test_group_filter_escapes_dn_and_name_in_one_pass() -> None:
    template = "(|(member={dn})(memberUid={username}))"
    assert group_filter(template, "uid=a*,dc=x", "{dn}") == (
        "(|(member=uid=a\\2a,dc=x)(memberUid={dn}))"
    )


@pytest.mark.parametrize(
    ("dn", "attribute", "expected"),
    [
        ("cn=devs,ou=groups,dc=example,dc=com", "cn", "devs"),
        ("CN=Domain Users,CN=Users,DC=corp,DC=example", "cn", "Domain Users"),
        ("cn=Dev\\, Ops,ou=groups,dc=x", "cn", "Dev, Ops"),
        ("cn=caf\\c3\\a9,dc=x", "cn", "café"),
        ("ou=x+cn=multi,dc=x", "cn", "multi"),
        ("ou=teams,cn=devs,dc=x", "cn", None),  # cn is not in the first RDN
        ("cn=#04024869,dc=x", "cn", None),  # a BER-encoded value
        ("not a dn", "cn", None),
    ],
)
def test_group_name_from_dn(dn: str, attribute: str, expected: str | None) -> None:
    assert group_name_from_dn(dn, attribute) == expected


# ------------------------------------------------------------------------------ search, bind


async def test_search_then_bind(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd)}))
    ok = await ldap.authenticate(user.uid, Secret(user.password))
    assert ok.outcome is Outcome.AUTHENTICATED and ok.identity is not None
    assert ok.cacheable
    identity = ok.identity
    assert (identity.subject, identity.method, identity.credential) == (
        user.uid,
        "ldap",
        "password",
    )
    assert identity.user_id is not None
    wrong = await ldap.authenticate(user.uid, Secret("not-" + user.password))
    assert (wrong.outcome, wrong.reason) == (Outcome.DENIED, "wrong password")
    unknown = await ldap.authenticate(slapd.unique("nobody"), Secret("whatever"))
    assert unknown.outcome is Outcome.UNKNOWN


async def test_first_login_creates_the_user_row(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd)
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    identity = await runtime.authenticators.authenticate(user.uid, Secret(user.password))
    row = runtime.accounts.get_user(user.uid)
    assert (row.source, row.email, row.has_password) == ("ldap", user.mail, False)
    assert identity.user_id is not None
    # the row has no password: the database backend passes, the next login is LDAP's again
    again = await ldap_of(runtime).authenticate(user.uid, Secret(user.password))
    assert again.identity is not None and again.identity.user_id == identity.user_id


async def test_name_is_the_directorys_spelling(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd, "case")
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd)}))
    result = await ldap.authenticate(user.uid.upper(), Secret(user.password))
    assert result.identity is not None
    assert result.identity.subject == user.uid  # one account, however it is typed


async def test_empty_password_is_denied_without_a_bind(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd)
    for config in (search_config(slapd), bind_config(slapd)):
        ldap = ldap_of(ldap_runtime({"ldap": config}))
        binds = slapd.binds()
        result = await ldap.authenticate(user.uid, Secret(""))
        assert (result.outcome, result.reason) == (Outcome.DENIED, "empty password")
        assert slapd.binds() == binds
        assert ldap.directory.connections_opened == 0


async def test_several_matching_entries_are_refused(
    slapd: LdapServer, ldap_runtime: LdapRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    shared = slapd.unique("shared") + "@example.com"
    first = slapd.add_user(slapd.unique("twin"), "twin-pw", mail=shared)
    slapd.add_user(slapd.unique("twin"), "twin-pw", mail=shared)
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, user_filter="(mail={username})")}))
    result = await ldap.authenticate(shared, Secret("twin-pw"))
    assert result.outcome is Outcome.DENIED
    assert result.reason == "several directory entries match this name"
    # the same filter with one match logs in, under the directory's uid
    single = slapd.add_user(slapd.unique("single"), "single-pw", mail=slapd.unique("s") + "@x.org")
    ok = await ldap.authenticate(str(single.mail), Secret("single-pw"))
    assert ok.identity is not None and ok.identity.subject == single.uid
    assert first.uid != single.uid


async def test_bind_as_user(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    group = slapd.unique("bgrp")
    slapd.add_group(group, [user])
    ldap = ldap_of(ldap_runtime({"ldap": bind_config(slapd)}))
    ok = await ldap.authenticate(user.uid, Secret(user.password))
    assert ok.identity is not None
    assert ok.identity.subject == user.uid
    assert group in ok.identity.groups  # memberOf, read by the user from their own entry
    wrong = await ldap.authenticate(user.uid, Secret("nope"))
    assert (wrong.outcome, wrong.reason) == (Outcome.DENIED, "wrong password")
    # a directory answers a bind as a DN that does not exist like a wrong password
    missing = await ldap.authenticate(slapd.unique("ghost"), Secret("nope"))
    assert missing.outcome is Outcome.DENIED


async def test_disabled_row_and_local_name_are_denied(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd)
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    ldap = ldap_of(runtime)
    assert (await ldap.authenticate(user.uid, Secret(user.password))).identity is not None
    runtime.accounts.set_enabled(user.uid, False)
    disabled = await ldap.authenticate(user.uid, Secret(user.password))
    assert (disabled.outcome, disabled.reason) == (Outcome.DENIED, "user is disabled")
    # a local user with a password is not taken over by a directory user of the same name
    local = new_user(slapd, "local")
    runtime.accounts.create_user(local.uid, password="local-db-password")
    taken = await ldap.authenticate(local.uid, Secret(local.password))
    assert taken.outcome is Outcome.DENIED


# ------------------------------------------------------------------------------ groups


async def test_memberof_groups_become_regauth_groups_and_labels(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd, extra=[("departmentNumber", "42"), ("title", "builder")])
    devs, ops = slapd.unique("devs"), slapd.unique("ops")
    devs_dn = slapd.add_group(devs, [user, new_user(slapd)])  # a group needs a member left
    slapd.add_group(ops, [user])
    runtime = ldap_runtime(
        {
            "ldap": search_config(
                slapd, label_attributes={"department": "departmentNumber", "role": "title"}
            )
        }
    )
    ldap = ldap_of(runtime)
    first = await ldap.authenticate(user.uid, Secret(user.password))
    assert first.identity is not None
    assert set(first.identity.groups) == {devs, ops}
    assert set(first.identity.labels["groups"]) == {devs, ops}
    assert first.identity.labels["department"] == ("42",)
    assert first.identity.labels["role"] == ("builder",)
    assert {g.name: g.source for g in runtime.accounts.list_groups()}[devs] == "ldap"
    # a local group the user is in too counts, and survives the next sync
    local = slapd.unique("local")
    runtime.accounts.create_group(local)
    runtime.accounts.add_member(local, user.uid)
    # leaving a directory group leaves the regauth group at the next login
    slapd.remove_member(devs_dn, user)
    second = await ldap.authenticate(user.uid, Secret(user.password))
    assert second.identity is not None
    assert set(second.identity.groups) == {ops, local}
    assert set(second.identity.labels["groups"]) == {ops, local}
    assert set(runtime.accounts.get_user(user.uid).groups) == {ops, local}


async def test_leaving_a_directory_group_leaves_a_local_group_of_that_name(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd)
    team = slapd.unique("pre")
    team_dn = slapd.add_group(team, [user, new_user(slapd)])
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    runtime.accounts.create_group(team)  # made before the first login, to grant it a role
    ldap = ldap_of(runtime)
    first = await ldap.authenticate(user.uid, Secret(user.password))
    assert first.identity is not None and first.identity.groups == (team,)
    slapd.remove_member(team_dn, user)
    second = await ldap.authenticate(user.uid, Secret(user.password))
    assert second.identity is not None
    assert second.identity.groups == ()


async def test_group_search(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user, other = new_user(slapd), new_user(slapd)
    mine, theirs = slapd.unique("mine"), slapd.unique("theirs")
    slapd.add_group(mine, [user, other])
    slapd.add_group(theirs, [other])
    for config in (
        search_config(slapd, group_membership="search", group_base_dn=slapd.groups),
        bind_config(slapd, group_membership="search", group_base_dn=slapd.groups),
    ):
        ldap = ldap_of(ldap_runtime({"ldap": config}))
        result = await ldap.authenticate(user.uid, Secret(user.password))
        assert result.identity is not None
        assert result.identity.groups == (mine,)


async def test_group_membership_none(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    slapd.add_group(slapd.unique("ignored"), [user])
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, group_membership="none")}))
    result = await ldap.authenticate(user.uid, Secret(user.password))
    assert result.identity is not None and result.identity.groups == ()


def test_group_search_needs_a_base(slapd: LdapServer) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"ldap": bind_config(slapd, group_membership="search")}, environ={})
    assert any("group_base_dn" in p and p.startswith("ldap") for p in caught.value.problems)


async def test_role_grant_to_an_ldap_group_authorizes(
    slapd: LdapServer, ldap_runtime: LdapRuntime, client_for: ClientFor
) -> None:
    user, outsider = new_user(slapd), new_user(slapd)
    team = slapd.unique("team")
    slapd.add_group(team, [user])
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    client = client_for(runtime)
    scope = {"service": "registry", "scope": f"repository:{team}/app:pull,push"}

    first = await client.get("/auth", params=scope, auth=(user.uid, user.password))
    assert first.status_code == 200, first.text
    assert claims(first.json()["token"])["access"][0]["actions"] == []
    # the group row exists after the first login: grant it a role
    runtime.accounts.add_grant(group=team, pattern=f"{team}/*", role="push")
    await runtime.watcher.poll_once()

    granted = await client.get("/auth", params=scope, auth=(user.uid, user.password))
    assert granted.status_code == 200, granted.text
    token = claims(granted.json()["token"])
    assert token["sub"] == user.uid
    assert sorted(token["access"][0]["actions"]) == ["pull", "push"]
    elsewhere = await client.get(
        "/auth",
        params={"service": "registry", "scope": "repository:other/app:pull"},
        auth=(user.uid, user.password),
    )
    assert claims(elsewhere.json()["token"])["access"][0]["actions"] == []
    outside = await client.get("/auth", params=scope, auth=(outsider.uid, outsider.password))
    assert claims(outside.json()["token"])["access"][0]["actions"] == []
    wrong = await client.get("/auth", params=scope, auth=(user.uid, "wrong"))
    assert wrong.status_code == 401


async def test_acl_rules_see_ldap_groups_as_labels(
    slapd: LdapServer, ldap_runtime: LdapRuntime, client_for: ClientFor
) -> None:
    user = new_user(slapd)
    team = slapd.unique("acl")
    slapd.add_group(team, [user])
    runtime = ldap_runtime(
        {
            "ldap": search_config(slapd),
            "acl": [{"match": {"name": "${labels:groups}/*"}, "actions": ["pull"]}],
        }
    )
    response = await client_for(runtime).get(
        "/auth",
        params=[("scope", f"repository:{team}/app:pull,push"), ("scope", "repository:x/y:pull")],
        auth=(user.uid, user.password),
    )
    assert response.status_code == 200, response.text
    access = {a["name"]: a["actions"] for a in claims(response.json()["token"])["access"]}
    assert access == {f"{team}/app": ["pull"], "x/y": []}


async def test_refresh_token_ends_with_the_directory_entry(
    slapd: LdapServer, ldap_runtime: LdapRuntime, client_for: ClientFor
) -> None:
    user = new_user(slapd)
    client = client_for(ldap_runtime({"ldap": search_config(slapd)}))
    login = await client.get(
        "/auth",
        params={"service": "registry", "offline_token": "true", "client_id": "cli"},
        auth=(user.uid, user.password),
    )
    refresh_token = login.json().get("refresh_token")
    # regauth cannot re-ask the directory when a refresh token is used, so directory users get
    # none: their docker login keeps the password (or a personal access token) instead
    assert login.status_code == 200
    assert refresh_token is None
    slapd.modify(f"dn: {user.dn}\nchangetype: delete\n")
    refreshed = await client.post(
        "/auth",
        data={
            "grant_type": "refresh_token",
            "refresh_token": str(refresh_token),
            "service": "registry",
            "client_id": "cli",
        },
    )
    assert refresh_token is None or refreshed.status_code != 200


# ------------------------------------------------------------------------------ injection

HOSTILE = [
    "*",
    "bob)(uid=*",
    "*)(|(uid=*",
    "*)(uid=*))(|(uid=*",
    "a\\",
    "\\2a",
    "nul\x00byte",
    "bob\x00",
    "uid=bob,ou=people",
    "a" * 129,
    "a" * 5000,
    "",
]


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_hostile_names_never_authenticate_or_reach_ldap(
    slapd: LdapServer, ldap_runtime: LdapRuntime, mode: str
) -> None:
    victim = new_user(slapd, "victim")
    config = search_config(slapd) if mode == "search" else bind_config(slapd)
    ldap = ldap_of(ldap_runtime({"ldap": config}))
    binds = slapd.binds()
    for name in HOSTILE:
        result = await ldap.authenticate(name, Secret(victim.password))
        assert result.outcome is Outcome.UNKNOWN, name
    assert slapd.binds() == binds
    assert ldap.directory.connections_opened == 0


@pytest.mark.parametrize("mode", ["search", "bind"])
def test_escaping_holds_when_the_directory_is_asked(slapd: LdapServer, mode: str) -> None:
    """Below the name check: the directory itself is asked for hostile names, with a real
    user's password, and never answers with another user."""
    star = slapd.add_user(slapd.unique("st") + "*", "star-pw")
    victim = new_user(slapd, "victim")
    raw = search_config(slapd) if mode == "search" else bind_config(slapd)
    config = parse_config({"ldap": raw}).ldap
    assert config is not None
    directory = LdapDirectory(config)
    try:
        for name in [*HOSTILE[:-2], victim.uid[:-1] + "*", f"{victim.uid})(uid=*"]:
            result = directory.lookup(name, Secret(victim.password))
            assert not isinstance(result, DirectoryUser), name
            assert result.outcome in (Outcome.UNKNOWN, Outcome.DENIED), name
        # a literal star in a name matches only the entry whose name has that star
        found = directory.lookup(star.uid, Secret("star-pw"))
        assert isinstance(found, DirectoryUser)
        assert found.dn == star.dn
    finally:
        directory.close()


# ------------------------------------------------------------------------------ TLS


@pytest.mark.parametrize("mode", ["start_tls", "ldaps"])
async def test_tls_with_the_ca_file(
    slapd: LdapServer, ldap_runtime: LdapRuntime, mode: str
) -> None:
    user = new_user(slapd)
    tls: dict[str, Any] = (
        {"url": slapd.url, "start_tls": True} if mode == "start_tls" else {"url": slapd.ldaps_url}
    )
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, **tls, ca_file=str(slapd.ca_file))}))
    result = await ldap.authenticate(user.uid, Secret(user.password))
    assert result.identity is not None and result.identity.subject == user.uid


@pytest.mark.parametrize("mode", ["start_tls", "ldaps"])
@pytest.mark.parametrize("ca", ["other", "system"])
async def test_tls_with_an_untrusted_certificate_is_unavailable(
    slapd: LdapServer, ldap_runtime: LdapRuntime, tmp_path: Path, mode: str, ca: str
) -> None:
    user = new_user(slapd)
    tls: dict[str, Any] = (
        {"url": slapd.url, "start_tls": True} if mode == "start_tls" else {"url": slapd.ldaps_url}
    )
    if ca == "other":  # another CA; without ca_file, the system's CAs, which do not know ours
        tls["ca_file"] = str(make_ca(tmp_path, "other")[0])
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, **tls)}))
    with pytest.raises(BackendUnavailable) as caught:
        await ldap.authenticate(user.uid, Secret(user.password))
    assert "certificate verify failed" in str(caught.value.log_reason)
    assert ldap.directory.connections_opened == 0


def test_unreadable_ca_file_stops_startup(slapd: LdapServer, tmp_path: Path) -> None:
    config = parse_config(
        {"ldap": search_config(slapd, url=slapd.ldaps_url, ca_file=str(tmp_path / "missing"))}
    ).ldap
    assert config is not None
    with pytest.raises(LdapConfigError, match=r"ldap\.ca_file"):
        LdapDirectory(config)


# ------------------------------------------------------------------------------ connections


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_connections_are_reused(
    slapd: LdapServer, ldap_runtime: LdapRuntime, mode: str
) -> None:
    users = [new_user(slapd) for _ in range(3)]
    config = search_config(slapd) if mode == "search" else bind_config(slapd)
    ldap = ldap_of(ldap_runtime({"ldap": config}))
    connections, binds = slapd.total_connections(), slapd.binds()
    logins = 30
    for i in range(logins):
        user = users[i % len(users)]
        result = await ldap.authenticate(user.uid, Secret(user.password))
        assert result.identity is not None
    wrong = await ldap.authenticate(users[0].uid, Secret("wrong"))
    assert wrong.outcome is Outcome.DENIED
    after = await ldap.authenticate(users[1].uid, Secret(users[1].password))
    assert after.identity is not None and after.identity.subject == users[1].uid
    # one connection for searches as the service account (search mode) and one for binds
    opened = 2 if mode == "search" else 1
    assert ldap.directory.connections_opened == opened
    assert slapd.total_connections() - connections == opened
    # every login binds once as the user; the service account bound once
    assert slapd.binds() - binds == logins + 2 + (1 if mode == "search" else 0)


async def test_concurrent_logins_stay_within_the_pool(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    users = [new_user(slapd) for _ in range(8)]
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, pool_size=3)}))
    for _ in range(3):
        results = await asyncio.gather(
            *(ldap.authenticate(u.uid, Secret(u.password)) for u in users)
        )
        assert [r.identity.subject for r in results if r.identity] == [u.uid for u in users]
    assert ldap.directory.connections_opened <= 2 * 3
    assert ldap.directory.idle_connections <= 2 * 3


async def test_a_restarted_directory_is_reconnected(
    tmp_path: Path, ldap_runtime: LdapRuntime
) -> None:
    with LdapServer(tmp_path / "slapd") as server:
        users = [server.add_user(f"rick{i}", f"rick{i}-pw") for i in range(3)]
        ldap = ldap_of(ldap_runtime({"ldap": search_config(server, pool_size=3)}))
        # concurrent logins open several connections; on a busy machine the threads may run
        # them one after another, so burst until the pool keeps more than two
        for _ in range(20):
            logins = [ldap.authenticate(u.uid, Secret(u.password)) for u in users]
            assert all(r.identity is not None for r in await asyncio.gather(*logins))
            if ldap.directory.idle_connections > 2:
                break
        kept = ldap.directory.idle_connections
        assert kept > 2
        server.restart()  # every kept connection is now dead
        for user in users:
            result = await ldap.authenticate(user.uid, Secret(user.password))
            assert result.identity is not None and result.identity.subject == user.uid
        # one new connection per pool; the other dead ones wait at the bottom of the pool
        # and are replaced the same way when a busy moment reaches them
        assert ldap.directory.connections_opened == kept + 2
        logins = [ldap.authenticate(u.uid, Secret(u.password)) for u in users]
        assert all(r.identity is not None for r in await asyncio.gather(*logins))


async def test_failover_to_the_next_url(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    dead = f"ldap://127.0.0.1:{free_port()}"
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, url=[dead, slapd.url])}))
    result = await ldap.authenticate(user.uid, Secret(user.password))
    assert result.identity is not None


# ------------------------------------------------------------------------------ outages


def blackhole() -> socket.socket:
    """A listening socket that never answers: connects succeed, nothing comes back."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_unreachable_directory_is_unavailable_within_the_timeout(
    ldap_runtime: LdapRuntime, slapd: LdapServer, kind: str
) -> None:
    hole = blackhole()
    try:
        port = free_port() if kind == "refused" else hole.getsockname()[1]
        timeout = 0.5
        ldap = ldap_of(
            ldap_runtime(
                {"ldap": search_config(slapd, url=f"ldap://127.0.0.1:{port}", timeout=timeout)}
            )
        )
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            await ldap.authenticate("someone", Secret("secret-pw"))
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    assert elapsed < timeout + 1.0
    if kind == "silent":
        assert elapsed >= timeout * 0.8
    error = caught.value
    assert error.status == 503
    assert error.message == "the LDAP directory is unavailable; try again later"
    assert f"127.0.0.1:{port}" in str(error.log_reason)


async def test_outage_gives_503_and_static_users_still_log_in(
    ldap_runtime: LdapRuntime, client_for: ClientFor, tmp_path: Path
) -> None:
    with LdapServer(tmp_path / "slapd") as server:
        user = server.add_user("lou", "lou-pw")
        runtime = ldap_runtime(
            {
                "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
                "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
                "credential_cache": {"ttl": 0},
                "ldap": search_config(server, timeout=1),
            }
        )
        client = client_for(runtime)
        scope = {"service": "registry", "scope": "repository:x/y:pull"}
        assert (await client.get("/auth", params=scope, auth=("lou", "lou-pw"))).status_code == 200
        server.stop()
        started = time.monotonic()
        down = await client.get("/auth", params=scope, auth=(user.uid, "lou-pw"))
        assert time.monotonic() - started < 2.0
        assert down.status_code == 503
        assert down.json() == {
            "errors": [
                {
                    "code": "UNAVAILABLE",
                    "message": "the LDAP directory is unavailable; try again later",
                }
            ]
        }
        posted = await client.post(
            "/auth",
            data={"grant_type": "password", "username": "lou", "password": "lou-pw", **scope},
        )
        assert posted.status_code == 503
        assert posted.json()["error"] == "temporarily_unavailable"
        # the static user in the same chain is not affected
        static = await client.get("/auth", params=scope, auth=("alice", "alice-pw"))
        assert static.status_code == 200
        assert claims(static.json()["token"])["access"][0]["actions"] == ["pull"]
        with pytest.raises(BackendUnavailable):
            await runtime.authenticators.authenticate("lou", Secret("lou-pw"))
        # back up: the same backend serves again
        server.start()
        assert (await client.get("/auth", params=scope, auth=("lou", "lou-pw"))).status_code == 200


async def test_wrong_service_password_is_unavailable_not_unknown(
    slapd: LdapServer, ldap_runtime: LdapRuntime
) -> None:
    user = new_user(slapd)
    ldap = ldap_of(ldap_runtime({"ldap": search_config(slapd, bind_password="wrong")}))
    with pytest.raises(BackendUnavailable) as caught:
        await ldap.authenticate(user.uid, Secret(user.password))
    assert "service account bind refused: invalidCredentials" in str(caught.value.log_reason)


async def test_missing_base_dn_is_unavailable(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    ldap = ldap_of(
        ldap_runtime({"ldap": search_config(slapd, base_dn="ou=gone,dc=example,dc=com")})
    )
    with pytest.raises(BackendUnavailable) as caught:
        await ldap.authenticate(user.uid, Secret(user.password))
    assert "does not exist" in str(caught.value.log_reason)


async def test_closed_authenticator_refuses(slapd: LdapServer, ldap_runtime: LdapRuntime) -> None:
    user = new_user(slapd)
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    ldap = ldap_of(runtime)
    assert (await ldap.authenticate(user.uid, Secret(user.password))).identity is not None
    await runtime.stop()
    assert ldap.directory.idle_connections == 0
    with pytest.raises(BackendUnavailable):
        await ldap.authenticate(user.uid, Secret(user.password))


# ------------------------------------------------------------------------------ logs


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    yield stream
    structlog.reset_defaults()


async def test_passwords_never_reach_the_logs(
    slapd: LdapServer,
    ldap_runtime: LdapRuntime,
    client_for: ClientFor,
    log_stream: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    user = new_user(slapd)
    runtime = ldap_runtime({"ldap": search_config(slapd)})
    client = client_for(runtime)
    secrets = [user.password, "wrong-ldap-secret", slapd.service_password]
    assert (await client.get("/auth", auth=(user.uid, user.password))).status_code == 200
    assert (await client.get("/auth", auth=(user.uid, "wrong-ldap-secret"))).status_code == 401
    hole = blackhole()
    try:
        down = ldap_runtime(
            {
                "ldap": search_config(
                    slapd, url=f"ldap://127.0.0.1:{hole.getsockname()[1]}", timeout=0.3
                )
            }
        )
        response = await client_for(down).get("/auth", auth=(user.uid, user.password))
        assert response.status_code == 503
        assert user.password not in response.text
    finally:
        hole.close()
    text = log_stream.getvalue()
    assert '"status":503' in text.replace(" ", "")
    assert "ldap directory unavailable" in text
    assert "wrong password" in text
    captured = capfd.readouterr()
    for secret in secrets:
        assert secret not in text
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
