"""``regauth user label``, ``regauth import docker-auth`` and ``regauth import keycloak``
against a data folder's SQLite database, with the labels reaching ``policy explain``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from regauth.cli import main
from regauth.config import load_config
from tests.unit.test_importers import keycloak_password, realm_export

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def run(tmp_path: Path) -> Any:
    data_dir = str(tmp_path / "data")
    (tmp_path / "data").mkdir(mode=0o700)  # as `regauth serve` made it
    config = tmp_path / "regauth.yaml"
    config.write_text(
        yaml.safe_dump(
            {"acl": [{"match": {"name": "${labels:group}-shared/*"}, "actions": ["push", "pull"]}]}
        )
    )

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main,
            [*args, "--data-dir", data_dir, "--config", str(config)],
            input=input,
            catch_exceptions=False,
        )

    return invoke


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_labels_of_database_users_reach_the_acl(run: Any) -> None:
    run("user", "add", "alice", input="pw\n")
    explain = ("policy", "explain", "--account", "alice", "repository:dev-shared/app:push")
    assert run(*explain).exit_code == 1
    labels = as_json(run("user", "label", "alice", "group=dev,ops", "tier=prod", "--json"))
    assert labels == {"group": ["dev", "ops"], "tier": ["prod"]}
    assert run(*explain).exit_code == 0
    shown = run("user", "show", "alice")
    assert "labels: group=dev,ops; tier=prod" in shown.output
    assert as_json(run("user", "show", "alice", "--json"))["labels"]["tier"] == ["prod"]
    after = as_json(run("user", "label", "alice", "--remove", "group", "--json"))
    assert after == {"tier": ["prod"]}
    assert run(*explain).exit_code == 1
    assert as_json(run("user", "list", "--json"))[0]["labels"] == {"tier": ["prod"]}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["alice", "group"], "expected KEY=VALUE"),
        (["alice", "bad key=x"], "invalid label key"),
        (["alice", "group=x", "--remove", "group"], "both set and removed"),
        (["nobody", "group=x"], "no such user"),
    ],
)
def test_bad_labels_are_one_line(run: Any, args: list[str], fragment: str) -> None:
    run("user", "add", "alice", input="pw\n")
    result = run("user", "label", *args)
    assert result.exit_code == 2
    assert fragment in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_user_import_docker_auth_keeps_labels(run: Any) -> None:
    imported = as_json(
        run("user", "import", "--docker-auth", str(DATA / "docker_auth_full.yml"), "--json")
    )
    assert imported["imported"] == ["admin", "test"]
    assert as_json(run("user", "show", "test", "--json"))["labels"] == {"group": ["test-group"]}


def test_import_docker_auth_writes_a_file_that_loads(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "converted.yaml"
    result = run(
        "import",
        "docker-auth",
        str(DATA / "docker_auth_full.yml"),
        "--out",
        str(out),
        "--users-to-database",
        "--service",
        "registry",
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert "imported 2 user(s) into the database" in result.output
    assert "mongo_auth: no equivalent" in result.output
    written = yaml.safe_load(out.read_text())
    assert written["users"] == {"": {}}
    assert written["token"]["service"] == ["registry"]
    secret = tmp_path / "secret.txt"
    secret.write_text("s\n")
    out.write_text(out.read_text().replace("/path/to/client_secret.txt", str(secret)))
    assert load_config(out, environ={}).token.issuer == "Acme auth server"
    assert as_json(run("user", "show", "test", "--json"))["labels"] == {"group": ["test-group"]}
    again = run("import", "docker-auth", str(DATA / "docker_auth_full.yml"), "--out", str(out))
    assert again.exit_code == 2
    assert "exists; give --force" in again.output
    run("user", "passwd", "test", input="changed-in-regauth\n")
    forced = run(
        "import",
        "docker-auth",
        str(DATA / "docker_auth_full.yml"),
        "--out",
        str(out),
        "--force",
        "--users-to-database",
        "--json",
    )
    assert as_json(forced)["skipped_existing"] == ["admin", "test"]  # a rerun changes no one


def test_import_docker_auth_refuses_bad_files_before_writing(run: Any, tmp_path: Path) -> None:
    source = tmp_path / "auth_config.yml"
    source.write_text(
        "users:\n  bob:\n    password: $2y$05$abc\nacl:\n  - match: {account: '/(/'}\n"
    )
    out = tmp_path / "out.yaml"
    result = run("import", "docker-auth", str(source), "--out", str(out), "--users-to-database")
    assert result.exit_code == 2
    assert "does not load: acl[0].match.account" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    assert as_json(run("user", "list", "--json")) == []
    missing = run("import", "docker-auth", str(tmp_path / "nope.yml"))
    assert missing.exit_code == 2
    assert "cannot read" in missing.output


def test_import_keycloak(run: Any, tmp_path: Path) -> None:
    export = tmp_path / "realm-export.json"
    export.write_text(
        json.dumps(
            realm_export(
                [
                    {
                        "username": "bob",
                        "email": "bob@example.com",
                        "enabled": True,
                        "credentials": [keycloak_password("bob-pw", "pbkdf2-sha256", 1000)],
                        "realmRoles": ["default-roles-docker", "docker-push"],
                        "groups": ["/devs"],
                    },
                    {
                        "username": "dave",
                        "enabled": False,
                        "credentials": [keycloak_password("dave-pw", "pbkdf2-sha512", 1000)],
                    },
                ]
            )
        )
    )
    (tmp_path / "data").rmdir()  # a migration may be the installation's first step
    result = as_json(run("import", "keycloak", str(export), "--json"))
    assert result["imported"] == ["bob", "dave"]
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert any(
        "server.path_prefix: /realms/docker/protocol/docker-v2" in n["what"]
        for n in result["notes"]
    )
    bob = as_json(run("user", "show", "bob", "--json"))
    assert (bob["email"], bob["groups"], bob["has_password"]) == (
        "bob@example.com",
        ["devs", "docker-push"],
        True,
    )
    assert as_json(run("user", "show", "dave", "--json"))["enabled"] is False
    assert as_json(run("import", "keycloak", str(export), "--json"))["skipped"] == ["bob", "dave"]
    export.write_text("{")
    broken = run("import", "keycloak", str(export))
    assert broken.exit_code == 2
    assert "not valid JSON" in broken.output
