"""The offline commands: check-config, policy explain, registry-config, hash-password."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from click.testing import CliRunner

from regauth.cli import main
from tests.conftest import bcrypt_hash

DATA = Path(__file__).parent.parent / "data"


def write_config(tmp_path: Path, document: dict[str, Any] | str) -> Path:
    path = tmp_path / "regauth.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


POLICY = {
    "users": {"alice": {"password": bcrypt_hash("pw"), "labels": {"team": ["red"]}}},
    "acl": [
        {"match": {"account": "admin"}, "actions": ["*"], "comment": "admin may do everything"},
        {
            "match": {"name": "${labels:team}/*"},
            "actions": ["pull", "push"],
            "comment": "team namespaces",
        },
        {"match": {"account": "/.+/"}, "actions": ["pull"], "comment": "logged in users pull"},
        {"match": {"account": "", "name": "public/*"}, "actions": ["pull"]},
    ],
}


def test_check_config_ok(tmp_path: Path) -> None:
    result = run(
        "check-config",
        "--config",
        str(write_config(tmp_path, POLICY)),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "acl rules: 4" in result.output
    assert not (tmp_path / "data").exists()  # checking never writes


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"acl": [{"match": {"team": "x"}, "actions": ["*"]}]}, "acl[0].match.team: unknown key"),
        ({"acl": [{"match": {"name": "/[/"}, "actions": ["*"]}]}, "acl[0].match.name: invalid"),
        ({"acl": [{"match": {"ip": "10.0.0.0/40"}, "actions": ["*"]}]}, "acl[0].match.ip"),
        (
            {"acl": [{"match": {}, "actions": []}, {"match": {}, "actions": ["puhs"]}]},
            'acl[1].actions: unknown action "puhs"',
        ),
        (
            {"token": {"key": "/nonexistent/key.pem", "certificate": "/nonexistent/c.pem"}},
            "token.key: file not found: /nonexistent/key.pem",
        ),
        (
            {"server": {"certificate": "/nonexistent/s.pem", "key": "/nonexistent/s.key"}},
            "server.certificate: file not found",
        ),
        ({"htpasswd": "/nonexistent/htpasswd"}, "htpasswd: cannot read htpasswd file"),
        ("token: [", "YAML syntax error"),
    ],
)
def test_check_config_errors_are_one_line_exit_2(
    tmp_path: Path, document: dict[str, Any] | str, expected: str
) -> None:
    result = run(
        "check-config",
        "--config",
        str(write_config(tmp_path, document)),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_config_file(tmp_path: Path) -> None:
    result = run("check-config", "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "config file not found" in result.output


def test_docker_auth_reference_sections_check(tmp_path: Path) -> None:
    result = run(
        "check-config",
        "--config",
        str(DATA / "docker_auth_reference.yml"),
        "--data-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output


def test_policy_explain_granted(tmp_path: Path) -> None:
    config = write_config(tmp_path, POLICY)
    result = run(
        "policy",
        "explain",
        "--config",
        str(config),
        "--account",
        "admin",
        "repository:x/y:pull,push,delete",
        "registry:catalog:*",
    )
    assert result.exit_code == 0, result.output
    assert "granted: pull, push, delete" in result.output
    assert 'acl[0]  "admin may do everything"' in result.output


def test_policy_explain_denied_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path, POLICY)
    result = run(
        "policy",
        "explain",
        "--config",
        str(config),
        "--account",
        "bob",
        "repository:red/app:pull,push",
    )
    assert result.exit_code == 1
    assert "granted: pull" in result.output
    assert "denied:  push" in result.output
    assert "acl[2]" in result.output


def test_policy_explain_labels_and_static_user_labels(tmp_path: Path) -> None:
    config = write_config(tmp_path, POLICY)
    with_label = run(
        "policy",
        "explain",
        "--config",
        str(config),
        "--account",
        "bob",
        "--label",
        "team=red",
        "--json",
        "repository:red/app:pull,push",
    )
    assert with_label.exit_code == 0, with_label.output
    report = json.loads(with_label.output)
    assert report["scopes"][0]["decided_by"] == "acl[1]"
    assert report["scopes"][0]["comment"] == "team namespaces"
    # alice has team=red in the config's users section
    alice = run(
        "policy",
        "explain",
        "--config",
        str(config),
        "--account",
        "alice",
        "repository:red/app:push",
    )
    assert alice.exit_code == 0, alice.output


def test_policy_explain_anonymous(tmp_path: Path) -> None:
    config = write_config(tmp_path, POLICY)
    public = run(
        "policy", "explain", "--config", str(config), "--account", "", "repository:public/x:pull"
    )
    assert public.exit_code == 0
    private = run(
        "policy", "explain", "--config", str(config), "--account", "", "repository:private/x:pull"
    )
    assert private.exit_code == 1
    assert "rule:    default" in private.output
    assert "401" in private.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["repository:x"], "malformed scope"),
        (["--label", "novalue", "repository:x:pull"], "KEY=VALUE"),
        (["--ip", "999.1.1.1", "repository:x:pull"], "not an IP address"),
        (["--service", "other", "repository:x:pull"], "unknown service"),
    ],
)
def test_policy_explain_bad_input_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    config = write_config(tmp_path, POLICY)
    result = run("policy", "explain", "--config", str(config), "--account", "bob", *args)
    assert result.exit_code == 2
    assert expected in result.output


def test_registry_config_yaml(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "token": {"issuer": "acme", "service": "reg"},
            "server": {"public_url": "https://auth.example.com"},
        },
    )
    out = tmp_path / "out"
    result = run(
        "registry-config",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    token = yaml.safe_load(result.output)["auth"]["token"]
    assert token == {
        "realm": "https://auth.example.com/auth",
        "service": "reg",
        "issuer": "acme",
        "rootcertbundle": str(out / "bundle.pem"),
        "jwks": str(out / "jwks.json"),
    }
    assert (out / "bundle.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert json.loads((out / "jwks.json").read_text())["keys"][0]["kty"] == "EC"
    # the key was generated in the data folder and is reused
    again = run(
        "registry-config",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(out),
    )
    assert again.output == result.output


def test_registry_config_env(tmp_path: Path) -> None:
    result = run("registry-config", "--data-dir", str(tmp_path / "data"), "--format", "env")
    assert result.exit_code == 0
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert lines["REGISTRY_AUTH_TOKEN_REALM"] == "http://127.0.0.1:5001/auth"
    assert lines["REGISTRY_AUTH_TOKEN_SERVICE"] == "registry"
    assert lines["REGISTRY_AUTH_TOKEN_ISSUER"] == "regauth"
    assert lines["REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE"] == str(tmp_path / "data" / "bundle.pem")


def test_registry_config_compose(tmp_path: Path) -> None:
    config = write_config(tmp_path, POLICY)
    out = tmp_path / "compose"
    result = run(
        "registry-config",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "--format",
        "compose",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    compose = yaml.safe_load((out / "docker-compose.yaml").read_text())
    assert compose["services"]["registry"]["image"] == "registry:2"
    assert compose["services"]["regauth"]["environment"]["REGAUTH_CONFIG"].endswith(config.name)
    registry = yaml.safe_load((out / "registry-config.yml").read_text())
    assert registry["auth"]["token"]["rootcertbundle"] == "/certs/bundle.pem"


def test_registry_config_unknown_service(tmp_path: Path) -> None:
    result = run("registry-config", "--data-dir", str(tmp_path), "--service", "nope")
    assert result.exit_code == 2


def test_hash_password_from_stdin() -> None:
    result = run("hash-password", "--cost", "4", input="s3cret\n")
    assert result.exit_code == 0
    hashed = result.output.strip()
    assert bcrypt.checkpw(b"s3cret", hashed.encode())
    line = run("hash-password", "--cost", "4", "--user", "bob", input="pw\n").output.strip()
    user, hashed = line.split(":", 1)
    assert user == "bob"
    assert bcrypt.checkpw(b"pw", hashed.encode())


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        ([], "\n", "empty password"),
        ([], "x" * 80 + "\n", "longer than 72 bytes"),
        (["--user", "a:b"], "pw\n", "must not contain ':'"),
        (["--cost", "2"], "pw\n", "Invalid value"),
    ],
)
def test_hash_password_bad_input(args: list[str], stdin: str, expected: str) -> None:
    result = run("hash-password", *args, input=stdin)
    assert result.exit_code == 2
    assert expected in result.output


def test_help_lists_every_command() -> None:
    result = run("--help")
    for command in ("serve", "check-config", "policy", "registry-config", "hash-password"):
        assert command in result.output
