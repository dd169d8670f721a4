"""The store's features against SQLite and a real PostgreSQL: accounts, credentials, refresh
tokens, grants, the audit trail and the change log."""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

import bcrypt
import jwt
import pytest
from sqlalchemy import func, select

from regauth.accounts import AccountService, Conflict, InvalidInput, NotFound
from regauth.audit import AuditFilter, AuditRecord, ScopeRecord, query_audit
from regauth.authn.base import Kind, Outcome
from regauth.authn.database import DatabaseAuthenticator
from regauth.authn.refresh import RefreshSettings, RefreshTokens
from regauth.authz.base import AccessContext
from regauth.authz.grants import GrantAuthorizer, load_snapshot
from regauth.clock import utcnow
from regauth.protocol.errors import InvalidGrant, Unauthorized
from regauth.protocol.request import parse_get, parse_post
from regauth.protocol.scope import parse_scope
from regauth.protocol.secret import Secret
from regauth.service import ClientInfo
from regauth.store.background import BackgroundWriter
from regauth.store.database import Database
from regauth.store.models import ChangeLog, User
from tests.conftest import RuntimeFactory
from tests.unit.test_request import basic


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


def fast_hash(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(4)).decode()


@pytest.fixture
def accounts(database: Database) -> AccountService:
    return AccountService(database, hash_password=fast_hash)


def change_count(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(ChangeLog)) or 0)


# --------------------------------------------------------------------------- accounts


def test_users_lifecycle(accounts: AccountService, database: Database) -> None:
    before = change_count(database)
    view = accounts.create_user("alice", password="pw", email="a@example.com", is_admin=True)
    assert view.username == "alice"
    assert view.has_password
    assert view.is_admin
    assert change_count(database) == before + 1
    with pytest.raises(Conflict, match="already exists"):
        accounts.create_user("alice", password="x")
    accounts.create_user("bob", password=None)
    assert [u.username for u in accounts.list_users()] == ["alice", "bob"]
    assert accounts.set_enabled("bob", False).enabled is False
    assert accounts.update_user("bob", email="b@example.com").email == "b@example.com"
    accounts.delete_user("bob")
    with pytest.raises(NotFound, match="no such user: 'bob'"):
        accounts.get_user("bob")


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda a: a.create_user("bad name", password="x"), "invalid username"),
        (lambda a: a.create_user("a:b", password="x"), "invalid username"),
        (lambda a: a.create_user("x" * 200, password="x"), "invalid username"),
        (lambda a: a.create_user("ok", password=""), "must not be empty"),
        (lambda a: a.create_user("ok", email="not-an-email"), "invalid email"),
        (lambda a: a.create_user("ok", password_hash="plain"), "bcrypt"),
        (lambda a: a.create_group(" padded"), "invalid group name"),
        (lambda a: a.add_grant(user="nobody", pattern="x/*", role="pull"), "no such user"),
        (lambda a: a.add_grant(public=True, pattern="x/*", role="push"), "public grants"),
        (lambda a: a.add_grant(pattern="x/*", role="pull"), "exactly one"),
        (lambda a: a.create_robot("Bad Robot"), "invalid robot name"),
        (lambda a: a.create_token("nobody", "t"), "no such user"),
    ],
)
def test_bad_input_changes_nothing(
    accounts: AccountService, database: Database, call: Any, fragment: str
) -> None:
    before = change_count(database)
    with pytest.raises((InvalidInput, NotFound)) as caught:
        call(accounts)
    assert fragment in caught.value.message
    assert change_count(database) == before
    assert accounts.count_users() == 0


def test_bad_grant_pattern_and_role(accounts: AccountService) -> None:
    accounts.create_user("alice", password="pw")
    with pytest.raises(InvalidInput, match="invalid repository pattern"):
        accounts.add_grant(user="alice", pattern="Team/App", role="pull")
    with pytest.raises(InvalidInput, match="invalid role"):
        accounts.add_grant(user="alice", pattern="team/*", role="owner")
    assert accounts.list_grants() == []


def test_groups_and_grants(accounts: AccountService) -> None:
    accounts.create_user("alice", password="pw")
    accounts.create_group("devs", description="developers")
    with pytest.raises(Conflict):
        accounts.create_group("devs")
    assert accounts.add_member("devs", "alice").members == ["alice"]
    assert accounts.get_user("alice").groups == ["devs"]
    grant = accounts.add_grant(group="devs", pattern="team/*", role="push")
    robot = accounts.create_robot("ci", grants=[("ci/*", "push")])
    public = accounts.add_grant(public=True, pattern="library/*", role="pull")
    listed = {(g.subject_type, g.subject, g.pattern, g.role) for g in accounts.list_grants()}
    assert listed == {
        ("group", "devs", "team/*", "push"),
        ("robot", "ci", "ci/*", "push"),
        ("public", None, "library/*", "pull"),
    }
    assert [g.id for g in accounts.list_grants(group="devs")] == [grant.id]
    assert robot.view.grants == ["push on ci/*"]
    accounts.remove_grant(public.id)
    with pytest.raises(NotFound):
        accounts.remove_grant(public.id)
    accounts.remove_member("devs", "alice")
    assert accounts.get_group("devs").members == []
    accounts.delete_group("devs")
    assert [g.subject_type for g in accounts.list_grants()] == ["robot"]


def test_deleting_a_user_removes_their_credentials(accounts: AccountService) -> None:
    accounts.create_user("alice", password="pw")
    accounts.add_grant(user="alice", pattern="a/*", role="admin")
    accounts.create_token("alice", "laptop")
    accounts.delete_user("alice")
    assert accounts.list_grants() == []
    assert accounts.list_tokens() == []


def test_import_is_all_or_nothing(accounts: AccountService) -> None:
    good = fast_hash(b"pw")
    with pytest.raises(InvalidInput, match="unsupported password hash"):
        accounts.import_users([("a", good), ("b", "$apr1$legacy")])
    assert accounts.count_users() == 0
    accounts.create_user("existing", password="x")
    created, skipped = accounts.import_users([("a", good), ("existing", good)])
    assert (created, skipped) == (["a"], ["existing"])


async def test_account_work_runs_on_the_database_threads(accounts: AccountService) -> None:
    view = await accounts.run(accounts.create_user, "worker", email="w@example.com")
    assert view.email == "w@example.com"
    assert await accounts.run(threading.current_thread) is not threading.current_thread()


# --------------------------------------------------------------------- authentication


async def test_database_users_authenticate(accounts: AccountService, database: Database) -> None:
    accounts.create_user("alice", password="right")
    accounts.create_group("devs")
    accounts.add_member("devs", "alice")
    backend = DatabaseAuthenticator(database)
    ok = await backend.authenticate("alice", Secret("right"))
    assert ok.outcome is Outcome.AUTHENTICATED
    assert ok.cacheable
    assert ok.identity is not None
    assert ok.identity.groups == ("devs",)
    assert ok.identity.labels["groups"] == ("devs",)
    assert (await backend.authenticate("alice", Secret("wrong"))).outcome is Outcome.DENIED
    assert (await backend.authenticate("nobody", Secret("x"))).outcome is Outcome.UNKNOWN
    accounts.set_enabled("alice", False)
    assert (await backend.authenticate("alice", Secret("right"))).outcome is Outcome.DENIED


async def test_imported_bcrypt_hash_is_upgraded_to_argon2(
    accounts: AccountService, database: Database
) -> None:
    accounts.import_users([("legacy", fast_hash(b"old-pw"))])
    backend = DatabaseAuthenticator(database)
    result = await backend.authenticate("legacy", Secret("old-pw"))
    assert result.outcome is Outcome.AUTHENTICATED
    with database.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "legacy"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert (await backend.authenticate("legacy", Secret("old-pw"))).outcome is (
        Outcome.AUTHENTICATED
    )


async def test_personal_access_tokens(accounts: AccountService, database: Database) -> None:
    clock = Clock()
    accounts.create_user("alice", password="pw")
    accounts.create_user("bob", password="pw")
    limited = accounts.create_token(
        "alice",
        "ci",
        repositories=["team/*"],
        actions=["pull"],
        expires_at=utcnow() + datetime.timedelta(days=1),
    )
    assert limited.secret.startswith("regauth_pat_")
    assert limited.secret not in json.dumps(accounts.list_tokens()[0].as_dict())
    backend = DatabaseAuthenticator(database, clock=clock)
    result = await backend.authenticate("alice", Secret(limited.secret))
    assert result.outcome is Outcome.AUTHENTICATED
    assert not result.cacheable
    assert result.identity is not None
    assert result.identity.credential == "token"
    restriction = result.identity.restriction
    assert restriction is not None
    assert restriction.permits(parse_scope("repository:team/app:pull"), "pull")
    assert not restriction.permits(parse_scope("repository:team/app:push"), "push")
    assert not restriction.permits(parse_scope("repository:other/app:pull"), "pull")
    # another user's name with alice's token
    assert (await backend.authenticate("bob", Secret(limited.secret))).outcome is Outcome.DENIED
    # unknown token for a known user, and for an unknown user: the same answer (no user
    # enumeration), and it stops the chain, so no password check is ever made for it
    known = await backend.authenticate("bob", Secret("regauth_pat_nope"))
    unknown = await backend.authenticate("carol", Secret("regauth_pat_nope"))
    assert known.outcome is unknown.outcome is Outcome.DENIED
    assert known.reason == unknown.reason
    clock.advance(days=2)
    assert (await backend.authenticate("alice", Secret(limited.secret))).outcome is (Outcome.DENIED)
    plain = accounts.create_token("alice", "laptop")
    assert (await backend.authenticate("alice", Secret(plain.secret))).outcome is (
        Outcome.AUTHENTICATED
    )
    accounts.revoke_token(plain.view.id)
    denied = await backend.authenticate("alice", Secret(plain.secret))
    assert denied.outcome is Outcome.DENIED
    assert denied.reason == "personal access token is revoked"


async def test_robots(accounts: AccountService, database: Database) -> None:
    created = accounts.create_robot("ci", expires_at=utcnow() + datetime.timedelta(hours=1))
    assert created.secret.startswith("regauth_robot_")
    assert created.view.username == "robot+ci"
    backend = DatabaseAuthenticator(database)
    ok = await backend.authenticate("robot+ci", Secret(created.secret))
    assert ok.outcome is Outcome.AUTHENTICATED
    assert ok.identity is not None
    assert ok.identity.kind is Kind.ROBOT
    assert not ok.cacheable
    assert (await backend.authenticate("robot+ci", Secret("wrong"))).outcome is Outcome.DENIED
    # another robot's name, and no such robot: the same answer as a wrong secret
    assert (await backend.authenticate("robot+other", Secret(created.secret))).outcome is (
        Outcome.DENIED
    )
    assert (await backend.authenticate("robot+nope", Secret("wrong"))).outcome is Outcome.DENIED
    accounts.revoke_robot("ci")
    assert (await backend.authenticate("robot+ci", Secret(created.secret))).outcome is (
        Outcome.DENIED
    )


async def test_refresh_tokens(accounts: AccountService, database: Database) -> None:
    accounts.create_user("alice", password="pw")
    clock = Clock()
    backend = DatabaseAuthenticator(database)
    identity = (await backend.authenticate("alice", Secret("pw"))).identity
    assert identity is not None
    settings = RefreshSettings(
        idle_lifetime=datetime.timedelta(days=1), absolute_lifetime=datetime.timedelta(days=3)
    )
    refresh = RefreshTokens(database, settings, clock=clock)
    token = await refresh.issue(identity, "docker")
    assert token.startswith("regauth_rt_")
    same = await refresh.exchange(Secret(token), "containers/image")
    assert (same.subject, same.credential) == ("alice", "refresh_token")
    # idle lifetime
    clock.advance(days=1, seconds=1)
    with pytest.raises(InvalidGrant):
        await refresh.exchange(Secret(token), "docker")
    # bound to the client when configured so
    strict = RefreshTokens(
        database,
        RefreshSettings(settings.idle_lifetime, settings.absolute_lifetime, True),
        clock=clock,
    )
    bound = await strict.issue(identity, "docker")
    await strict.exchange(Secret(bound), "docker")
    with pytest.raises(InvalidGrant):
        await strict.exchange(Secret(bound), "containers/image")
    # password change and disabling revoke them
    second = await refresh.issue(identity, "docker")
    accounts.set_password("alice", "new")
    with pytest.raises(InvalidGrant):
        await refresh.exchange(Secret(second), "docker")
    third = await refresh.issue(identity, "docker")
    accounts.set_enabled("alice", False)
    with pytest.raises(InvalidGrant):
        await refresh.exchange(Secret(third), "docker")
    accounts.set_enabled("alice", True)
    fourth = await refresh.issue(identity, "docker")
    assert accounts.revoke_refresh_tokens(username="alice") >= 1
    with pytest.raises(InvalidGrant):
        await refresh.exchange(Secret(fourth), "docker")
    assert all(t.revoked_at is not None for t in accounts.list_refresh_tokens("alice"))


# ----------------------------------------------------------------------------- grants


def test_grants_authorizer(accounts: AccountService, database: Database) -> None:
    from regauth.authn.database import identity_for_user

    accounts.create_user("alice", password="pw", is_admin=True)
    accounts.create_user("bob", password="pw")
    accounts.create_group("devs")
    accounts.add_member("devs", "bob")
    accounts.add_grant(group="devs", pattern="team/*", role="push")
    accounts.add_grant(user="bob", pattern="ops/tool", role="delete")
    accounts.add_grant(public=True, pattern="library/*", role="pull")
    accounts.create_robot("ci", grants=[("ci/*", "admin")])
    authorizer = GrantAuthorizer(load_snapshot(database))
    bob = identity_for_user(2, "bob", ("devs",), False, method="t", credential="password")
    alice = identity_for_user(1, "alice", (), True, method="t", credential="password")

    def decide(identity: Any, scope: str) -> tuple[str, ...] | None:
        decision = authorizer.decide(AccessContext(identity, "registry"), parse_scope(scope))
        return None if decision is None else decision.granted

    assert decide(bob, "repository:team/app/sub:pull,push,delete") == ("pull", "push")
    assert decide(bob, "repository:ops/tool:pull,delete,push") == ("pull", "delete")
    assert decide(bob, "repository:bob/mine:pull,push,delete") == ("pull", "push", "delete")
    assert decide(bob, "repository:library/x:pull,push") == ("pull",)
    assert decide(bob, "repository:elsewhere:pull") is None
    assert decide(bob, "registry:catalog:*") is None
    assert decide(alice, "registry:catalog:*") == ("*",)
    from regauth.authn.base import ANONYMOUS, Identity

    assert decide(ANONYMOUS, "repository:library/x:pull") == ("pull",)
    assert decide(ANONYMOUS, "repository:team/x:pull") is None
    robot = Identity("robot+ci", "t", kind=Kind.ROBOT, credential="robot")
    assert decide(robot, "repository:ci/app:push,delete") == ("push", "delete")
    decision = authorizer.decide(
        AccessContext(bob, "registry"), parse_scope("repository:team/app:push")
    )
    assert decision is not None
    assert "group devs: push on team/*" in (decision.comment or "")
    off = GrantAuthorizer(load_snapshot(database), user_namespaces=False, anonymous_pull=False)
    assert off.decide(AccessContext(bob, "registry"), parse_scope("repository:bob/x:pull")) is None
    assert (
        off.decide(AccessContext(ANONYMOUS, "registry"), parse_scope("repository:library/x:pull"))
        is None
    )


# ------------------------------------------------------------------------------ audit


def test_audit_writer_and_query(database: Database) -> None:
    writer = BackgroundWriter(database, interval=60)
    now = utcnow()
    for index, (account, outcome, repo) in enumerate(
        [("alice", "granted", "a/app"), ("bob", "denied", "b/app"), ("alice", "rejected", "a/x")]
    ):
        writer.audit(
            AuditRecord(
                at=now - datetime.timedelta(minutes=10 - index),
                status=200 if outcome != "rejected" else 401,
                outcome=outcome,
                account=account,
                method="database/password",
                grant_type="basic",
                service="registry",
                client_ip="127.0.0.1",
                user_agent="skopeo",
                reason=None,
                latency_ms=1.5,
                scopes=[
                    ScopeRecord(
                        "repository",
                        repo,
                        "pull,push",
                        "pull,push" if outcome == "granted" else "",
                        "acl[0]",
                    )
                ],
            )
        )
    writer.close()
    assert writer.written == 3
    everything = query_audit(database, AuditFilter())
    assert [e["account"] for e in everything] == ["alice", "bob", "alice"]
    assert everything[-1]["scopes"][0]["granted"] == ["pull", "push"]
    assert [e["outcome"] for e in query_audit(database, AuditFilter(account="alice"))] == [
        "rejected",
        "granted",
    ]
    assert [e["account"] for e in query_audit(database, AuditFilter(repository="b/app"))] == ["bob"]
    assert len(query_audit(database, AuditFilter(outcome="denied"))) == 1
    since = query_audit(
        database, AuditFilter(since=now - datetime.timedelta(minutes=9, seconds=30))
    )
    assert len(since) == 2
    with pytest.raises(ValueError, match="outcome"):
        AuditFilter(outcome="maybe")


# ----------------------------------------------------------------- the service, wired


async def test_service_with_database_users_and_refresh(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    runtime = make_runtime({"database": {"url": database_url}})
    try:
        accounts = runtime.accounts
        accounts.create_user("alice", password="pw")
        accounts.add_grant(user="alice", pattern="team/*", role="push")
        await runtime.watcher.poll_once()
        client = ClientInfo(address=None)
        first = await runtime.service.issue(
            parse_get(
                "offline_token=true&client_id=docker&scope=repository:team/a:pull,push",
                basic("alice", "pw"),
            ),
            client,
        )
        refresh = first.body["refresh_token"]
        issued = await runtime.service.issue(
            parse_post(
                (
                    "grant_type=refresh_token&client_id=containers%2Fimage"
                    f"&refresh_token={refresh}&scope=repository%3Ateam%2Fa%3Apush"
                ).encode(),
                "application/x-www-form-urlencoded",
            ),
            client,
        )
        assert "refresh_token" not in issued.body
        claims = jwt.decode(issued.body["token"], options={"verify_signature": False})
        assert claims["sub"] == "alice"
        assert claims["access"][0]["actions"] == ["push"]
        # a token-authenticated request never gets a refresh token
        pat = accounts.create_token("alice", "ci")
        via_token = await runtime.service.issue(
            parse_get("offline_token=true", basic("alice", pat.secret)), client
        )
        assert "refresh_token" not in via_token.body
    finally:
        await runtime.stop()


async def test_changes_from_elsewhere_reach_the_runtime(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    runtime = make_runtime({"database": {"url": database_url, "sync_interval": 0.05}})
    other = AccountService(Database(database_url), hash_password=fast_hash)
    try:
        other.create_user("bob", password="pw")
        request = parse_get("scope=repository:shared/x:push", basic("bob", "pw"))
        issued = await runtime.service.issue(request, ClientInfo(None))
        assert issued.decisions[0].granted == ()
        assert len(runtime.authenticators.cache) == 1  # bob's password is now cached
        other.add_grant(user="bob", pattern="shared/*", role="push")
        other.set_password("bob", "new")
        if database_url.startswith("sqlite"):
            # the change signal beside the file: the next request catches up by itself (the
            # first one already did for "user created")
            with pytest.raises(Unauthorized):
                await runtime.service.issue(request, ClientInfo(None))
            assert await runtime.watcher.poll_once() == 0
        else:
            assert await runtime.watcher.poll_once() == 3  # user created, grant, password
        assert len(runtime.authenticators.cache) == 0
        granted = await runtime.service.issue(
            parse_get("scope=repository:shared/x:push", basic("bob", "new")), ClientInfo(None)
        )
        assert granted.decisions[0].granted == ("push",)
    finally:
        other.database.dispose()
        await runtime.stop()


async def test_a_change_committed_after_a_higher_id_is_not_lost(database: Database) -> None:
    """On PostgreSQL ids may commit out of order; the watcher looks back for late ones."""
    from regauth.sync import Change, ChangeWatcher

    seen: list[Change] = []

    async def record(changes: list[Change]) -> None:
        seen.extend(changes)

    watcher = ChangeWatcher(database, record)
    watcher.prime()
    with database.write() as session:
        session.add(ChangeLog(id=5, kind="user", subject="late", at=utcnow()))
        session.add(ChangeLog(id=7, kind="user", subject="early", at=utcnow()))
    assert await watcher.poll_once() == 2
    with database.write() as session:  # id 6 "commits" only now
        session.add(ChangeLog(id=6, kind="grant", subject=None, at=utcnow()))
    assert await watcher.poll_once() == 1
    assert [c.id for c in seen] == [5, 7, 6]
    assert await watcher.poll_once() == 0


def _audit_row(account: str) -> tuple[Any, ...]:
    return (
        datetime.datetime.now(datetime.UTC).timestamp(),
        "127.0.0.1",
        "test",
        account,
        "static/password",
        "basic",
        "registry",
        200,
        "granted",
        None,
        0.5,
        "[]",
        None,
    )


def test_the_audit_writer_writes_at_once_when_idle_and_in_batches_under_load(
    database: Database,
) -> None:
    writes: list[int] = []
    writer = BackgroundWriter(database, interval=0.5)
    writer.on_flush = lambda written, _dropped: writes.append(written) if written else None
    writer.start()
    try:
        started = time.monotonic()
        writer.audit(_audit_row("idle"))
        while not writes:
            assert time.monotonic() - started < 0.4, "an idle server's record waited"
            time.sleep(0.01)
        assert writes == [1]
        # a burst arriving while the writer waits out its interval: one more write for all
        for number in range(300):
            writer.audit(_audit_row(f"busy{number}"))
        deadline = time.monotonic() + 5
        while sum(writes) < 301:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert len(writes) <= 3  # not one write per record, nor per few
    finally:
        writer.close()
    assert len(query_audit(database, AuditFilter(limit=1000))) == 301
