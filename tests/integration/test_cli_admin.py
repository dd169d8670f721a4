"""The administration commands, against a data folder's SQLite database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from click.testing import CliRunner

from regauth.cli import main
from regauth.store.database import head_revision

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def run(tmp_path: Path) -> Any:
    data_dir = str(tmp_path / "data")
    (tmp_path / "data").mkdir()  # as `regauth serve` would have

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main, [*args, "--data-dir", data_dir], input=input, catch_exceptions=False
        )

    return invoke


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_user_commands(run: Any) -> None:
    created = as_json(
        run("user", "add", "alice", "--email", "a@example.com", "--json", input="pw1\n")
    )
    assert created["username"] == "alice"
    assert created["has_password"] is True
    assert "pw1" not in json.dumps(created)
    assert run("user", "add", "bob", "--admin", input="pw2\n").exit_code == 0
    duplicate = run("user", "add", "alice", input="x\n")
    assert duplicate.exit_code == 2
    assert "already exists" in duplicate.output
    users = as_json(run("user", "list", "--json"))
    assert [(u["username"], u["is_admin"]) for u in users] == [("alice", False), ("bob", True)]
    table = run("user", "list")
    assert "alice" in table.output and "bob" in table.output
    assert run("user", "passwd", "alice", input="new\n").exit_code == 0
    assert run("user", "disable", "alice").exit_code == 0
    assert as_json(run("user", "show", "alice", "--json"))["enabled"] is False
    assert run("user", "enable", "alice").exit_code == 0
    last_admin = run("user", "delete", "bob")
    assert last_admin.exit_code == 2
    assert "last enabled administrator" in last_admin.output
    assert run("user", "disable", "bob").exit_code == 2
    run("user", "add", "carol", "--admin", input="pw3\n")
    assert run("user", "delete", "bob").exit_code == 0
    missing = run("user", "show", "bob")
    assert missing.exit_code == 2
    assert "no such user: 'bob'" in missing.output


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["user", "add", "bad name"], "pw\n", "invalid username"),
        (["user", "add", "ok"], "\n", "must not be empty"),
        (["user", "passwd", "nobody"], "pw\n", "no such user"),
        (["group", "add-member", "nogroup", "nobody"], None, "no such group"),
        (
            ["grant", "add", "--user", "nobody", "--pattern", "x/*", "--role", "pull"],
            None,
            "no such user",
        ),
        (
            ["grant", "add", "--public", "--pattern", "BAD PATTERN", "--role", "pull"],
            None,
            "invalid repository pattern",
        ),
        (["grant", "add", "--pattern", "x/*", "--role", "pull"], None, "exactly one"),
        (["grant", "remove", "999"], None, "no such grant"),
        (["robot", "create", "Not Valid"], None, "invalid robot name"),
        (["robot", "create", "ci", "--grant", "nonsense"], None, "PATTERN=ROLE"),
        (["robot", "create", "ci", "--expires", "yesterday"], None, "not an expiry"),
        (["token", "create", "--user", "nobody", "--name", "x"], None, "no such user"),
        (["token", "revoke", "999"], None, "no such token"),
        (["refresh-token", "revoke"], None, "give a refresh token id or a user"),
        (["audit", "--since", "whenever"], None, "use a duration"),
        (["user", "import"], None, "give one of --htpasswd"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    run: Any, args: list[str], stdin: str | None, fragment: str
) -> None:
    result = run(*args, input=stdin)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_groups_grants_robots_tokens(run: Any) -> None:
    run("user", "add", "alice", input="pw\n")
    assert run("group", "add", "devs", "--description", "developers").exit_code == 0
    assert run("group", "add-member", "devs", "alice").exit_code == 0
    groups = as_json(run("group", "list", "--json"))
    assert groups == [
        {"name": "devs", "description": "developers", "source": "local", "members": ["alice"]}
    ]
    grant = as_json(
        run("grant", "add", "--group", "devs", "--pattern", "team/*", "--role", "push", "--json")
    )
    assert (grant["subject_type"], grant["subject"], grant["role"]) == ("group", "devs", "push")
    assert (
        run("grant", "add", "--public", "--pattern", "library/*", "--role", "pull").exit_code == 0
    )
    robot = as_json(
        run("robot", "create", "ci", "--grant", "ci/*=push", "--expires", "30d", "--json")
    )
    assert robot["username"] == "robot+ci"
    assert robot["secret"].startswith("regauth_robot_")
    listed = as_json(run("robot", "list", "--json"))
    assert listed[0]["grants"] == ["push on ci/*"]
    assert robot["secret"] not in json.dumps(listed)
    token = as_json(
        run(
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "laptop",
            "--read-only",
            "--repository",
            "team/*",
            "--expires",
            "90d",
            "--json",
        )
    )
    assert token["secret"].startswith("regauth_pat_")
    assert token["actions"] == ["pull"]
    assert token["repositories"] == ["team/*"]
    tokens = as_json(run("token", "list", "--user", "alice", "--json"))
    assert token["secret"] not in json.dumps(tokens)
    assert run("token", "revoke", str(token["id"])).exit_code == 0
    assert as_json(run("token", "list", "--json"))[0]["revoked_at"] is not None
    grants = as_json(run("grant", "list", "--json"))
    assert len(grants) == 3
    assert run("grant", "remove", str(grant["id"])).exit_code == 0
    assert len(as_json(run("grant", "list", "--json"))) == 2
    assert run("robot", "revoke", "ci").exit_code == 0
    assert as_json(run("robot", "list", "--json"))[0]["revoked_at"] is not None
    assert run("group", "remove-member", "devs", "alice").exit_code == 0
    assert run("group", "delete", "devs").exit_code == 0
    assert "created token" in run("token", "create", "--user", "alice", "--name", "n").output


def test_policy_explain_sees_database_grants(run: Any) -> None:
    run("user", "add", "bob", input="pw\n")
    run("group", "add", "devs")
    run("group", "add-member", "devs", "bob")
    run("grant", "add", "--group", "devs", "--pattern", "team/*", "--role", "push")
    result = run(
        "policy",
        "explain",
        "--account",
        "bob",
        "--json",
        "repository:team/app:pull,push,delete",
        "repository:bob/own:delete",
    )
    assert result.exit_code == 1
    report = json.loads(result.output)
    first, second = report["scopes"]
    assert first["granted"] == ["pull", "push"]
    assert first["denied"] == ["delete"]
    assert first["decided_by"].startswith("grant#")
    assert "group devs: push on team/*" in first["comment"]
    assert second["decided_by"] == "namespace"
    # a hypothetical member of a group
    hypothetical = run(
        "policy", "explain", "--account", "carol", "--group", "devs", "repository:team/app:push"
    )
    assert hypothetical.exit_code == 0, hypothetical.output


def test_import_htpasswd_and_docker_auth(run: Any, tmp_path: Path) -> None:
    htpasswd = tmp_path / "users.htpasswd"
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    htpasswd.write_text(f"carol:{hashed}\ndave:{hashed}\n")
    result = as_json(run("user", "import", "--htpasswd", str(htpasswd), "--json"))
    assert result == {"imported": ["carol", "dave"], "skipped": []}
    again = as_json(run("user", "import", "--htpasswd", str(htpasswd), "--json"))
    assert again == {"imported": [], "skipped": ["carol", "dave"]}
    docker_auth = as_json(
        run("user", "import", "--docker-auth", str(DATA / "docker_auth_reference.yml"), "--json")
    )
    assert docker_auth["imported"] == ["admin", "test"]
    legacy = tmp_path / "legacy.htpasswd"
    legacy.write_text(f"erin:{hashed}\nfrank:$apr1$abc$def\n")
    refused = run("user", "import", "--htpasswd", str(legacy))
    assert refused.exit_code == 2
    assert "only bcrypt entries" in refused.output
    names = [u["username"] for u in as_json(run("user", "list", "--json"))]
    assert "erin" not in names


def test_db_commands(run: Any) -> None:
    status = run("db", "status")
    assert status.exit_code == 1  # a new, empty database
    assert "empty" in status.output
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0
    assert f"-> {head_revision()}" in upgraded.output
    assert run("db", "status").exit_code == 0
    assert "already current" in run("db", "upgrade").output


def test_refresh_tokens_and_audit_commands(run: Any) -> None:
    run("user", "add", "alice", input="pw\n")
    assert as_json(run("refresh-token", "list", "--json")) == []
    assert "revoked 0" in run("refresh-token", "revoke", "--user", "alice").output
    assert as_json(run("audit", "--json")) == []
    assert (
        as_json(
            run("audit", "--account", "alice", "--since", "1h", "--outcome", "denied", "--json")
        )
        == []
    )
