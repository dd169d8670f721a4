"""Schema migrations on SQLite and on a real PostgreSQL: from empty, step by step from an
older schema with data in it, what ``regauth serve`` and ``regauth db`` do with a schema that
is out of date or not regauth's, and that a writer killed mid-transaction leaves whole rows.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from regauth.accounts import AccountService
from regauth.audit import AuditFilter, AuditRecord, ScopeRecord, query_audit
from regauth.authn.base import Kind, Outcome
from regauth.authn.database import DatabaseAuthenticator
from regauth.authz.grants import load_snapshot
from regauth.protocol.secret import Secret
from regauth.store.background import BackgroundWriter
from regauth.store.database import (
    Database,
    SchemaError,
    SchemaState,
    head_revision,
    normalize_url,
)
from regauth.store.models import Base
from regauth.store.registry_events import RegistryEventRow  # noqa: F401 - its tables are in Base
from tests.postgres import PostgresCluster
from tests.regauth_process import free_port

HEAD = head_revision()
REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011"]
ALICE_PASSWORD = "alice-old-bcrypt-pw"
ALICE_BCRYPT = bcrypt.hashpw(ALICE_PASSWORD.encode(), bcrypt.gensalt(4)).decode()

UrlFactory = Callable[[], str]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def another_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> UrlFactory:
    """More fresh, empty databases of the same kind as ``database_url``."""
    made: list[int] = []

    def make() -> str:
        made.append(1)
        if database_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'other-{len(made)}.db'}"
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        return cluster.create_database()

    return make


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An untouched handle on the (empty) test database: no schema yet."""
    handle = Database(database_url)
    yield handle
    handle.dispose()


def plain_engine(url: str) -> Engine:
    """An engine without regauth's hooks, for the raw SQL an older regauth would have run."""
    return create_engine(normalize_url(url))


def describe_schema(engine: Engine) -> dict[str, dict[str, Any]]:
    """Everything the inspector sees, per table: columns, keys, constraints and indexes,
    with their names (a later migration that drops a constraint needs the right name)."""
    described: dict[str, dict[str, Any]] = {}
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            pk = inspector.get_pk_constraint(table)
            described[table] = {
                "columns": {
                    c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                },
                "primary key": (pk["name"], tuple(pk["constrained_columns"])),
                "foreign keys": sorted(
                    (
                        f["name"],
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        (f.get("options") or {}).get("ondelete"),
                    )
                    for f in inspector.get_foreign_keys(table)
                ),
                "unique constraints": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "check constraints": sorted(
                    (c["name"], re.sub(r"\s+", " ", c["sqltext"]))
                    for c in inspector.get_check_constraints(table)
                ),
            }
    return described


def rows(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    return subprocess.Popen(
        [sys.executable, "-m", "regauth", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def finish_cli(
    child: subprocess.Popen[str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def regauth_cli_all(*commands: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``regauth`` commands at once (each one starts a Python: about 1.5 s)."""
    children = [start_cli(args, cwd) for args in commands]
    return [finish_cli(child) for child in children]


def regauth_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return regauth_cli_all(list(args), cwd=cwd)[0]


def write_config(path: Path, database_url: str, **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({"database": {"url": database_url}, **extra}))
    return path


def serve_args(config: Path, data_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        "serve",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        *extra,
    ]


class ServeProcess:
    """``regauth serve`` with any extra flags (such as ``--upgrade``), stopped by its PID."""

    def __init__(self, workdir: Path, args: list[str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = (workdir / f"serve-{port}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "regauth", *args],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._path = workdir / f"serve-{port}.log"

    def output(self) -> str:
        return self._path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"regauth serve exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"regauth serve did not become ready:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


# ------------------------------------------------------------------ from empty to head


def test_empty_database_upgrades_to_head_and_matches_the_models(db: Database) -> None:
    assert db.status().state is SchemaState.EMPTY
    status = db.ensure_schema(upgrade=False)  # an empty database is created, not refused
    assert status.state is SchemaState.CURRENT
    assert status.current == status.head == HEAD
    assert db.status().state is SchemaState.CURRENT
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    # a second upgrade is a no-op
    db.upgrade()
    assert db.status().current == HEAD


def test_migrated_schema_names_constraints_as_the_models_do(
    db: Database, another_url: UrlFactory
) -> None:
    """compare_metadata does not look at CHECK constraints; compare everything the inspector
    sees, names included, with a schema made by ``Base.metadata.create_all``.

    Fails at the time of writing: 0001_accounts.py names the role check ``ck_grants_role``
    and the ``ck_%(table_name)s_%(constraint_name)s`` convention prefixes it once more, so
    migrated databases have ``ck_grants_ck_grants_role`` where the models say
    ``ck_grants_role`` (a later ``drop_constraint("role", ...)`` would not find it)."""
    db.upgrade()
    reference = plain_engine(another_url())
    try:
        Base.metadata.create_all(reference)
        expected = describe_schema(reference)
    finally:
        reference.dispose()
    migrated = describe_schema(db.engine)
    assert set(migrated) == set(expected)
    for table, parts in expected.items():
        for part, value in parts.items():
            assert migrated[table][part] == value, (
                f"{table}: {part} differ between the migrations and the models\n"
                f"  migrated: {migrated[table][part]}\n  models:   {value}"
            )


# ------------------------------------------------------------- step by step, with data


def _seed_revision_0001(engine: Engine) -> None:
    """What a regauth at schema 0001 would have stored, written as plain SQL."""
    with engine.begin() as connection:
        run = connection.execute
        run(
            text(
                "INSERT INTO users (id, username, password_hash, email, enabled, is_admin, source,"
                " created_at, updated_at, password_changed_at) VALUES"
                " (1, 'alice', :hash, 'alice@example.com', :yes, :no, 'local',"
                "  CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
                " (2, 'bob', NULL, NULL, :no, :yes, 'ldap',"
                "  CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL)"
            ),
            {"hash": ALICE_BCRYPT, "yes": True, "no": False},
        )
        run(
            text(
                "INSERT INTO groups (id, name, description, source, created_at) VALUES"
                " (1, 'devs', 'developers', 'local', CURRENT_TIMESTAMP),"
                " (2, 'ops', NULL, 'ldap', CURRENT_TIMESTAMP)"
            )
        )
        run(text("INSERT INTO group_members (group_id, user_id) VALUES (1, 1), (2, 1), (2, 2)"))
        run(
            text(
                "INSERT INTO grants (id, user_id, group_id, public, pattern, role, created_at,"
                " created_by) VALUES"
                " (1, 1, NULL, :no, 'team/*', 'push', CURRENT_TIMESTAMP, 'cli'),"
                " (2, NULL, 1, :no, 'shared/*', 'pull', CURRENT_TIMESTAMP, NULL),"
                " (3, NULL, NULL, :yes, 'public/*', 'pull', CURRENT_TIMESTAMP, 'cli'),"
                " (4, 2, NULL, :no, '*', 'admin', CURRENT_TIMESTAMP, 'regauth')"
            ),
            {"yes": True, "no": False},
        )
        run(
            text(
                "INSERT INTO change_log (at, kind, subject) VALUES"
                " (CURRENT_TIMESTAMP, 'user', 'alice'), (CURRENT_TIMESTAMP, 'grant', NULL)"
            )
        )
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("users", "groups", "grants"):
                run(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))


OLD_DATA = {
    "users": "SELECT id, username, password_hash, email, enabled, is_admin, source,"
    " created_at, updated_at, password_changed_at FROM users ORDER BY id",
    "groups": "SELECT id, name, description, source, created_at FROM groups ORDER BY id",
    "group_members": "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id",
    "grants": "SELECT id, user_id, group_id, public, pattern, role, created_at, created_by"
    " FROM grants ORDER BY id",
    "change_log": "SELECT id, at, kind, subject FROM change_log ORDER BY id",
}


async def test_upgrade_step_by_step_keeps_the_data_and_the_new_features_work(
    db: Database, database_url: str
) -> None:
    db.upgrade("0001")
    status = db.status()
    assert (status.state, status.current) == (SchemaState.OUTDATED, "0001")
    raw = plain_engine(database_url)
    try:
        _seed_revision_0001(raw)
        before = {table: rows(raw, query) for table, query in OLD_DATA.items()}
        assert len(before["users"]) == 2 and len(before["grants"]) == 4
        # an outdated schema is refused, not silently upgraded
        with pytest.raises(SchemaError, match="regauth db upgrade"):
            db.ensure_schema(upgrade=False)
        assert db.status().current == "0001"

        for revision in REVISIONS[1:]:
            db.upgrade(revision)
            assert db.status().current == revision
            after = {table: rows(raw, query) for table, query in OLD_DATA.items()}
            assert after == before, f"data changed by the migration to {revision}"
        assert db.status().state is SchemaState.CURRENT
        # the grants table was rebuilt on SQLite: the new column is there and empty
        assert rows(raw, "SELECT count(*) FROM grants WHERE robot_id IS NOT NULL") == [(0,)]
    finally:
        raw.dispose()

    accounts = AccountService(
        db, hash_password=lambda p: bcrypt.hashpw(p, bcrypt.gensalt(4)).decode()
    )
    alice = accounts.get_user("alice")
    assert (alice.email, alice.enabled, alice.is_admin, alice.has_password) == (
        "alice@example.com",
        True,
        False,
        True,
    )
    assert alice.groups == ["devs", "ops"]
    assert alice.created_at.tzinfo is not None
    bob = accounts.get_user("bob")
    assert (bob.enabled, bob.is_admin, bob.source, bob.has_password) == (False, True, "ldap", False)
    old_grants = {(g.subject_type, g.subject, g.pattern, g.role) for g in accounts.list_grants()}
    assert old_grants == {
        ("user", "alice", "team/*", "push"),
        ("group", "devs", "shared/*", "pull"),
        ("public", None, "public/*", "pull"),
        ("user", "bob", "*", "admin"),
    }

    # new in 0002: robots with their own grants, personal access tokens
    robot = accounts.create_robot("ci", grants=[("ci/*", "push")], created_by="test")
    assert robot.view.grants == ["push on ci/*"]
    token = accounts.create_token("alice", "laptop", repositories=["team/*"], actions=["pull"])
    added = accounts.add_grant(robot="ci", pattern="shared/*", role="pull")
    assert added.id > 4  # the sequences / autoincrement continue after the old rows
    accounts.create_user("carol", password="carol-pw")
    snapshot = load_snapshot(db)
    assert [r.pattern for r in snapshot.by_robot["ci"]] == ["ci/*", "shared/*"]
    assert [r.pattern for r in snapshot.by_user["alice"]] == ["team/*"]
    assert [r.pattern for r in snapshot.by_group["devs"]] == ["shared/*"]
    assert [r.pattern for r in snapshot.public] == ["public/*"]

    writer = BackgroundWriter(db)
    authenticator = DatabaseAuthenticator(db, touch=writer.touch)
    # the old bcrypt password still works (and is upgraded to argon2id)
    result = await authenticator.authenticate("alice", Secret(ALICE_PASSWORD))
    assert result.outcome is Outcome.AUTHENTICATED, result
    assert result.identity is not None and result.identity.groups == ("devs", "ops")
    robot_login = await authenticator.authenticate("robot+ci", Secret(robot.secret))
    assert robot_login.outcome is Outcome.AUTHENTICATED
    assert robot_login.identity is not None and robot_login.identity.kind is Kind.ROBOT
    token_login = await authenticator.authenticate("alice", Secret(token.secret))
    assert token_login.outcome is Outcome.AUTHENTICATED
    # new in 0003: the audit trail
    writer.audit(
        AuditRecord(
            at=datetime.datetime.now(datetime.UTC),
            status=200,
            outcome="granted",
            account="alice",
            method="database/password",
            grant_type="basic",
            service="registry",
            client_ip="127.0.0.1",
            user_agent="test",
            reason=None,
            latency_ms=1.0,
            scopes=[ScopeRecord("repository", "team/app", "pull", "pull", "grant#1")],
        )
    )
    writer.flush()
    assert writer.written == 1
    with db.read() as session:
        assert (
            session.execute(
                text("SELECT count(*) FROM audit_events WHERE repositories = ' team/app '")
            ).scalar()
            == 1
        )
        touched = session.execute(
            text("SELECT last_used_at FROM robots WHERE name = 'ci'")
        ).scalar()
    assert touched is not None

    # the constraints survived the table rebuild: one subject per grant, known roles, cascades
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(
            text(
                "INSERT INTO grants (user_id, robot_id, public, pattern, role, created_at)"
                " VALUES (1, 1, :no, 'x/*', 'pull', CURRENT_TIMESTAMP)"
            ),
            {"no": False},
        )
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(
            text(
                "INSERT INTO grants (user_id, public, pattern, role, created_at)"
                " VALUES (1, :no, 'x/*', 'owner', CURRENT_TIMESTAMP)"
            ),
            {"no": False},
        )
    accounts.delete_user("alice")
    accounts.delete_robot("ci")
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM grants WHERE user_id = 1")).scalar() == 0
        assert (
            session.execute(text("SELECT count(*) FROM group_members WHERE user_id = 1")).scalar()
            == 0
        )
        assert (
            session.execute(text("SELECT count(*) FROM grants WHERE robot_id IS NOT NULL")).scalar()
            == 0
        )
        assert session.execute(text("SELECT count(*) FROM personal_access_tokens")).scalar() == 0
    writer.close()


def test_audit_scopes_move_inline_at_0005_and_back(db: Database, database_url: str) -> None:
    """0005 folds the audit_scopes table into audit_events: old events keep their scopes, in
    their order, the repository filter finds them, and a downgrade restores the table."""
    db.upgrade("0004")
    raw = plain_engine(database_url)
    try:
        with raw.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_events (id, at, account, status, outcome) VALUES"
                    " (1, :t1, 'alice', 200, 'partial'), (2, :t2, 'bob', 401, 'rejected'),"
                    " (3, :t3, 'carol', 200, 'granted')"
                ),
                {
                    "t1": datetime.datetime(2026, 11, 1, 10, 0, tzinfo=datetime.UTC),
                    "t2": datetime.datetime(2026, 11, 1, 11, 0, tzinfo=datetime.UTC),
                    "t3": datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO audit_scopes (event_id, type, name, requested, granted,"
                    " decided_by) VALUES"
                    " (1, 'repository', 'team/app', 'pull,push', 'pull', 'grant #4'),"
                    " (1, 'registry', 'catalog', '*', '', NULL),"
                    " (3, 'repository', 'team/app_x', 'pull', 'pull', 'acl[2]')"
                )
            )
        db.upgrade("0005")
        assert "audit_scopes" not in inspect(raw).get_table_names()
    finally:
        raw.dispose()
    everything = query_audit(db, AuditFilter())
    assert [e["account"] for e in everything] == ["carol", "bob", "alice"]
    assert everything[2]["scopes"] == [
        {
            "type": "repository",
            "name": "team/app",
            "requested": ["pull", "push"],
            "granted": ["pull"],
            "decided_by": "grant #4",
        },
        {
            "type": "registry",
            "name": "catalog",
            "requested": ["*"],
            "granted": [],
            "decided_by": None,
        },
    ]
    assert everything[1]["scopes"] == []
    # a whole name, not a prefix, and "_" is not a wildcard
    assert [e["account"] for e in query_audit(db, AuditFilter(repository="team/app"))] == ["alice"]
    assert [e["account"] for e in query_audit(db, AuditFilter(repository="team/app_x"))] == [
        "carol"
    ]
    assert query_audit(db, AuditFilter(repository="team/ap_")) == []
    assert query_audit(db, AuditFilter(repository="team")) == []

    db.upgrade("0005")  # idempotent
    db.downgrade("0004")
    raw = plain_engine(database_url)
    try:
        assert rows(
            raw,
            "SELECT event_id, type, name, requested, granted, decided_by FROM audit_scopes"
            " ORDER BY id",
        ) == [
            (1, "repository", "team/app", "pull,push", "pull", "grant #4"),
            (1, "registry", "catalog", "*", "", None),
            (3, "repository", "team/app_x", "pull", "pull", "acl[2]"),
        ]
        assert "scopes" not in {c["name"] for c in inspect(raw).get_columns("audit_events")}
    finally:
        raw.dispose()


# -------------------------------------------------------- regauth serve and regauth db


def test_serve_refuses_an_outdated_schema_until_db_upgrade(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    db.upgrade("0002")
    config = write_config(tmp_path / "regauth.yaml", database_url)
    data_dir = tmp_path / "data"
    state = ["--config", str(config), "--data-dir", str(data_dir)]

    refused, status = regauth_cli_all(
        serve_args(config, data_dir, free_port()), ["db", "status", *state], cwd=tmp_path
    )
    assert refused.returncode == 2, refused
    assert "out of date" in refused.stderr
    assert "regauth db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert status.returncode == 1, status
    assert "outdated" in status.stdout and "0002" in status.stdout and HEAD in status.stdout
    assert db.status().current == "0002"  # refusing did not migrate anything

    upgraded = regauth_cli("db", "upgrade", *state, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded
    assert f"0002 -> {HEAD}" in upgraded.stdout
    assert db.status().state is SchemaState.CURRENT

    status, again = regauth_cli_all(
        ["db", "status", *state], ["db", "upgrade", *state], cwd=tmp_path
    )
    assert status.returncode == 0, status
    assert "current" in status.stdout
    assert again.returncode == 0 and "already current" in again.stdout, again

    server = ServeProcess(tmp_path, serve_args(config, data_dir, port := free_port()), port)
    try:
        server.wait_ready()
    finally:
        assert server.stop() == 0


def _wait_until_open(children: list[subprocess.Popen[str]], path: Path) -> None:
    """Until every child process has ``path`` open (Linux: /proc/PID/fd)."""
    deadline = time.monotonic() + 30
    waiting = {child.pid for child in children}
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                targets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
            except OSError:
                continue
            if str(path) in targets:
                waiting.discard(pid)
        time.sleep(0.02)
    assert not waiting, "the commands did not open the database"


def test_commands_run_at_once_on_an_empty_database_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    """The first use creates the schema; commands started at once must not trip over each
    other. PostgreSQL migrates under an advisory lock. On SQLite the test plays the first
    process: it holds the write lock, as a regauth in the middle of creating the schema
    does, until the three commands have opened the file; they must wait for it, as every
    other write does (``BEGIN IMMEDIATE`` and the busy timeout), not fail. Without the held
    lock the same failure happens in about half of the runs, as the scheduler decides."""
    config = write_config(tmp_path / "regauth.yaml", database_url)
    state = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    commands = [["user", "add", name, "--no-password", *state] for name in ("u1", "u2", "u3")]
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("PRAGMA journal_mode=WAL")
            holder.execute("BEGIN IMMEDIATE")
            children = [start_cli(args, tmp_path) for args in commands]
            _wait_until_open(children, path)
            time.sleep(1.0)  # each is now waiting for the write lock, or about to
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        results = [finish_cli(child) for child in children]
    else:
        results = regauth_cli_all(*commands, cwd=tmp_path)
    failed = [r for r in results if r.returncode != 0]
    assert not failed, "a command failed while another created the schema:\n" + "\n".join(
        f"exit {r.returncode}: "
        + " | ".join(
            line for line in r.stderr.splitlines() if "Error" in line or "regauth:" in line
        )
        for r in failed
    )
    engine = plain_engine(database_url)
    try:
        assert rows(engine, "SELECT username FROM users ORDER BY username") == [
            ("u1",),
            ("u2",),
            ("u3",),
        ]
        assert rows(engine, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    finally:
        engine.dispose()


def test_serve_upgrade_migrates_an_outdated_database(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    db.upgrade("0001")
    raw = plain_engine(database_url)
    try:
        _seed_revision_0001(raw)
    finally:
        raw.dispose()
    config = write_config(tmp_path / "regauth.yaml", database_url)
    port = free_port()
    server = ServeProcess(tmp_path, serve_args(config, tmp_path / "data", port, "--upgrade"), port)
    try:
        server.wait_ready()
        assert db.status().state is SchemaState.CURRENT
        # a user stored at 0001 gets a token with the grants stored at 0001
        response = httpx.get(
            server.url + "/auth",
            params={"service": "registry", "scope": "repository:team/app:pull,push"},
            auth=("alice", ALICE_PASSWORD),
        )
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
        assert set(claims["access"][0]["actions"]) == {"pull", "push"}
    finally:
        assert server.stop() == 0


def _foreign_tables(engine: Engine, *, alembic_revision: str | None) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE inventory (id INTEGER PRIMARY KEY, item TEXT)"))
        connection.execute(text("INSERT INTO inventory (id, item) VALUES (1, 'hammer')"))
        if alembic_revision is not None:  # another application managed by alembic
            connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            )
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                {"v": alembic_revision},
            )


def _snapshot(engine: Engine) -> tuple[Any, ...]:
    names = sorted(inspect(engine).get_table_names())
    contents = {name: rows(engine, f"SELECT * FROM {name}") for name in names}
    return (names, describe_schema(engine), contents)


@pytest.mark.parametrize("alembic_revision", [None, "9f3e2d1c0b"], ids=["no-alembic", "other-app"])
def test_a_database_that_is_not_regauths_is_refused_and_left_alone(
    db: Database, database_url: str, tmp_path: Path, alembic_revision: str | None
) -> None:
    raw = plain_engine(database_url)
    try:
        _foreign_tables(raw, alembic_revision=alembic_revision)
        before = _snapshot(raw)
        status = db.status()
        assert (status.state, status.current) == (SchemaState.UNKNOWN, alembic_revision)
        with pytest.raises(SchemaError, match="refusing to touch it"):
            db.ensure_schema(upgrade=True)

        config = write_config(tmp_path / "regauth.yaml", database_url)
        data_dir = tmp_path / "data"
        state = ["--config", str(config), "--data-dir", str(data_dir)]
        refused, not_upgraded, unknown = regauth_cli_all(
            serve_args(config, data_dir, free_port(), "--upgrade"),
            ["db", "upgrade", *state],
            ["db", "status", *state],
            cwd=tmp_path,
        )
        assert refused.returncode == 2, refused
        assert "not a regauth database" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not_upgraded.returncode == 2, not_upgraded
        assert "refusing to touch it" in not_upgraded.stderr
        assert unknown.returncode == 1, unknown
        assert "unknown" in unknown.stdout

        assert _snapshot(raw) == before
    finally:
        raw.dispose()


def test_refusing_a_foreign_sqlite_file_does_not_change_its_journal_mode(tmp_path: Path) -> None:
    """``refusing to touch it`` should hold for the file too: looking at a foreign SQLite
    database must not switch it to WAL (a persistent change to the file's header that other
    programs see, and that does not work on network file systems)."""
    path = tmp_path / "other-app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE inventory (id INTEGER PRIMARY KEY, item TEXT)")
        connection.execute("INSERT INTO inventory (item) VALUES ('hammer')")
    connection.close()
    config = write_config(tmp_path / "regauth.yaml", f"sqlite:///{path}")
    status = regauth_cli("db", "status", "--config", str(config), cwd=tmp_path)
    assert status.returncode == 1 and "unknown" in status.stdout, status
    with sqlite3.connect(path) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        items = connection.execute("SELECT item FROM inventory").fetchall()
    connection.close()
    assert items == [("hammer",)]
    assert mode == "delete", (
        f"regauth switched a database it refused to touch to journal_mode={mode} "
        "(Database._configure_sqlite runs PRAGMA journal_mode=WAL on every connection, "
        "before status() has decided the database is regauth's)"
    )


# ------------------------------------------------------------------------ crash safety

WRITER = r"""
import sys, time
from sqlalchemy import event
from sqlalchemy.orm import Session
from regauth.accounts import AccountService
from regauth.store.database import Database
from regauth.store.models import User

url, prefix, password_hash, stall = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
database = Database(url)
accounts = AccountService(database)
state = {"n": 0}

@event.listens_for(Session, "after_flush")
def _between_statements(session, _context):
    # runs inside the transaction, after the users row was written and before the change_log
    # row: report it, and for user number `stall` wait there so the parent kills us mid-way
    if any(isinstance(o, User) for o in session.new):
        print("inside", state["name"], flush=True)
        if state["n"] == stall:
            time.sleep(60)
        time.sleep(0.001)

while True:
    state["name"] = name = f"{prefix}{state['n']:05d}"
    print("begin", name, flush=True)
    accounts.create_user(name, password_hash=password_hash, email=name + "@example.com")
    print("done", name, flush=True)
    state["n"] += 1
"""


def _kill_writer(tmp_path: Path, url: str, prefix: str, *, stall: int, at_least: int) -> list[str]:
    """Run the writer until it has created ``at_least`` users (and, with ``stall``, is inside
    the transaction of user number ``stall``), SIGKILL it, return its progress lines."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    progress = tmp_path / f"{prefix}progress.txt"
    with progress.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, str(script), url, prefix, ALICE_BCRYPT, str(stall)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                lines = progress.read_text().splitlines()
                done = sum(line.startswith("done ") for line in lines)
                if stall >= 0 and f"inside {prefix}{stall:05d}" in lines:
                    break
                if stall < 0 and done >= at_least:
                    time.sleep(0.003 * (done % 7))  # somewhere in the next few users
                    break
                assert child.poll() is None, progress.read_text()
                time.sleep(0.001)
            else:
                raise AssertionError("the writer made no progress:\n" + progress.read_text())
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return progress.read_text().splitlines()


def _check_whole_users(url: str) -> tuple[set[str], set[str]]:
    """Every user row is complete and has its change_log row; returns (users, logged)."""
    engine = plain_engine(url)
    try:
        incomplete = rows(
            engine,
            "SELECT username FROM users WHERE username IS NULL OR password_hash IS NULL"
            " OR email IS NULL OR created_at IS NULL OR updated_at IS NULL"
            " OR password_changed_at IS NULL OR enabled IS NULL OR source IS NULL",
        )
        assert incomplete == []
        users = {r[0] for r in rows(engine, "SELECT username FROM users")}
        logged = {r[0] for r in rows(engine, "SELECT subject FROM change_log WHERE kind = 'user'")}
        assert users == logged, (
            f"users without a change_log row: {sorted(users - logged)}; "
            f"change_log rows without a user: {sorted(logged - users)}"
        )
        return users, logged
    finally:
        engine.dispose()


def _sqlite_integrity(url: str) -> None:
    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


def test_a_writer_killed_mid_transaction_leaves_whole_users(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    db.ensure_schema(upgrade=False)
    db.dispose()
    sqlite = database_url.startswith("sqlite")
    expected: set[str] = set()

    # 1. killed while inside the transaction: its users row written, its change_log row not
    lines = _kill_writer(tmp_path, database_url, "a", stall=25, at_least=0)
    assert lines[-1] == "inside a00025", lines[-3:]
    if sqlite:  # the killed writer left its WAL behind: opening the file recovers from it
        assert Path(database_url.removeprefix("sqlite:///") + "-wal").exists()
        _sqlite_integrity(database_url)
    users, _ = _check_whole_users(database_url)
    expected |= {f"a{i:05d}" for i in range(25)}
    assert users == expected  # a00025 was rolled back, nothing before it lost

    # 2. and 3. killed wherever it happens to be, after a few dozen users
    for prefix in ("b", "c"):
        lines = _kill_writer(tmp_path, database_url, prefix, stall=-1, at_least=40)
        done = {line.split()[1] for line in lines if line.startswith("done ")}
        in_flight = {line.split()[1] for line in lines if line.startswith("begin ")} - done
        assert len(done) >= 40 and len(in_flight) <= 1
        if sqlite:
            _sqlite_integrity(database_url)
        users, _ = _check_whole_users(database_url)
        expected |= done
        # every reported user is there; the one in flight is there whole, or not at all
        assert expected <= users <= expected | in_flight
        expected = users

    # the database is still usable: no lock left behind by the killed writers
    accounts = AccountService(Database(database_url))
    try:
        started = time.monotonic()
        accounts.create_user(
            "after-the-crash", password_hash=ALICE_BCRYPT, email="after@example.com"
        )
        assert time.monotonic() - started < 5
        assert accounts.count_users() == len(expected) + 1
    finally:
        accounts.database.dispose()
    _check_whole_users(database_url)
    if sqlite:
        _sqlite_integrity(database_url)
