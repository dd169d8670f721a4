"""Configuration: strict validation with errors that name the key, overrides, secret files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from regauth.config import Config, ConfigError, load_config, parse_config

HASH = "$2y$05$LO.vzwpWC5LZGqThvEfznu8qhb5SGqvBSWY1J3yZ4AxtMRZ3kN5jC"


def problems(raw: Any, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, environ=environ or {})
    return caught.value.problems


def test_defaults() -> None:
    config = parse_config(None, environ={})
    assert config.server.listen == "127.0.0.1:5001"
    assert config.server.realm() == "http://127.0.0.1:5001/auth"
    assert config.token.service == ["registry"]
    assert config.token.algorithm == "ES256"
    assert config.token.kid == "libtrust"
    assert config.token.x5c is True
    assert config.token.expiration == 300
    assert config.acl == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"sever": {}}, "sever: unknown key"),
        ({"server": {"listen_addr": "x"}}, "server.listen_addr: unknown key"),
        ({"acl": [{"match": {"team": "x"}, "actions": ["*"]}]}, "acl[0].match.team: unknown key"),
        (
            {"acl": [{"match": {}, "actions": ["*"]}, {"match": {"name": "/(/"}, "actions": []}]},
            "acl[1].match.name: invalid regular expression",
        ),
        ({"acl": [{"match": {"name": "[abc"}, "actions": []}]}, "acl[0].match.name: invalid glob"),
        (
            {"acl": [{"match": {"ip": "10.0.0.0/33"}, "actions": []}]},
            "acl[0].match.ip: not an IP address or CIDR",
        ),
        ({"acl": [{"match": {"ip": "bogus"}, "actions": []}]}, "acl[0].match.ip"),
        ({"acl": [{"actions": ["*"]}]}, "acl[0].match: required key is missing"),
        ({"acl": [{"match": {}}]}, "acl[0].actions: required key is missing"),
        ({"acl": [{"match": {}, "actions": ["PULL"]}]}, "acl[0].actions: invalid action"),
        (
            {"acl": [{"match": {}, "actions": []}] * 2 + [{"match": {}, "actions": ["puhs"]}]},
            'acl[2].actions: unknown action "puhs"',
        ),
        (
            {"acl": [{"match": {"type": "repository"}, "actions": ["pull", "frob"]}]},
            'acl[0].actions: unknown action "frob"',
        ),
        (
            {"acl": [{"match": {"type": "/helm/"}, "actions": ["frob"]}]},
            'acl[0].actions: unknown action "frob"',
        ),
        (
            {"acl": [{"match": {"name": "${acount}/*"}, "actions": []}]},
            "unknown placeholder ${acount}",
        ),
        (
            {"acl": [{"match": {"name": "${account:1}/*"}, "actions": []}]},
            "${account:1} needs match.account to be a /regex/",
        ),
        (
            {"acl": [{"match": {"labels": {"g": "/(/"}}, "actions": []}]},
            "acl[0].match.labels: label 'g'",
        ),
        ({"server": {"listen": "nowhere"}}, "server.listen: expected host:port"),
        ({"server": {"listen": "1.2.3.4:99999"}}, "port out of range"),
        ({"server": {"certificate": "/x"}}, "certificate and key must be given together"),
        ({"server": {"proxy_headers": ["X-Forwarded-For"]}}, "proxy_headers needs trusted_proxies"),
        (
            {"server": {"proxy_headers": ["X-Evil"], "trusted_proxies": ["10.0.0.1"]}},
            "unsupported proxy header",
        ),
        ({"server": {"trusted_proxies": ["nope"]}}, "server.trusted_proxies"),
        ({"server": {"public_url": "ftp://x"}}, "server.public_url"),
        ({"server": {"path_prefix": "no-slash"}}, "server.path_prefix"),
        ({"token": {"expiration": 10}}, "token.expiration"),
        ({"token": {"algorithm": "HS256"}}, "token.algorithm"),
        ({"token": {"kid": "random"}}, "token.kid"),
        ({"token": {"service": []}}, "token.service"),
        ({"token": {"certificate": "/c.pem"}}, "certificate needs the matching key"),
        ({"users": {"bob": {}}}, "bob.password: required"),
        ({"users": {"bob": {"password": "plaintext"}}}, "users.bob.password: must be a bcrypt"),
        ({"users": {"": {"password": HASH}}}, "anonymous account"),
        ({"users": {"bob": {"password": HASH, "group": "x"}}}, "users.bob.group: unknown key"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_errors_name_the_key(raw: Any, expected: str) -> None:
    found = problems(raw)
    assert any(expected in p for p in found), found


def test_users_in_docker_auth_syntax() -> None:
    config = parse_config(
        {
            "users": {
                "alice": {"password": HASH, "labels": {"group": ["a", "b"], "site": "eu"}},
                "": {},
            }
        },
        environ={},
    )
    alice = config.users["alice"]
    assert alice.password is not None
    assert alice.password.reveal() == HASH
    assert alice.labels == {"group": ["a", "b"], "site": ["eu"]}
    assert HASH not in repr(config)


def test_service_may_be_a_list() -> None:
    config = parse_config({"token": {"service": ["a", "b"]}}, environ={})
    assert config.token.service == ["a", "b"]
    assert parse_config({"token": {"service": "one"}}, environ={}).token.service == ["one"]


def test_environment_overrides() -> None:
    config = parse_config(
        {"token": {"issuer": "file"}},
        environ={
            "REGAUTH_TOKEN__ISSUER": "env",
            "REGAUTH_TOKEN__EXPIRATION": "600",
            "REGAUTH_TOKEN__SERVICE": "[a, b]",
            "REGAUTH_SERVER__LISTEN": "0.0.0.0:7000",
            "REGAUTH_DATA_DIR": "/ignored",  # not nested: not a config key
        },
    )
    assert config.token.issuer == "env"
    assert config.token.expiration == 600
    assert config.token.service == ["a", "b"]
    assert config.server.listen == "0.0.0.0:7000"
    assert config.server.realm() == "http://127.0.0.1:7000/auth"


def test_environment_override_errors_name_the_key() -> None:
    found = problems({}, environ={"REGAUTH_TOKEN__EXPIRATON": "5"})
    assert found == ["token.expiraton: unknown key"]


def test_secret_from_file_and_env(tmp_path: Path) -> None:
    secret = tmp_path / "alice.hash"
    secret.write_text(HASH + "\n")
    config = parse_config(
        {"users": {"alice": {"password_file": str(secret)}, "bob": {"password_env": "BOB_HASH"}}},
        environ={"BOB_HASH": HASH},
    )
    for name in ("alice", "bob"):
        password = config.users[name].password
        assert password is not None and password.reveal() == HASH


def test_secret_env_needs_the_variable() -> None:
    found = problems({"users": {"bob": {"password_env": "REGAUTH_TEST_UNSET_VARIABLE"}}})
    assert any("REGAUTH_TEST_UNSET_VARIABLE is not set" in p for p in found)


def test_secret_file_missing() -> None:
    found = problems({"users": {"bob": {"password_file": "/nonexistent/file"}}})
    assert any("password_file: cannot read /nonexistent/file" in p for p in found)


def test_secret_given_twice() -> None:
    found = problems({"users": {"bob": {"password": HASH, "password_env": "X"}}})
    assert any("give only one of" in p for p in found)


def test_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("token:\n  issuer: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad, environ={})
    assert "YAML syntax error" in caught.value.problems[0]
    assert str(bad) in caught.value.problems[0]


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text("token:\n  issuer: a\n  issuer: b\n")
    with pytest.raises(ConfigError, match="duplicate key 'issuer'"):
        load_config(duplicated, environ={})


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "regauth.yaml"
    path.write_text("htpasswd: users.htpasswd\ntoken:\n  key: keys/k.pem\n")
    config = load_config(path, environ={})
    assert config.htpasswd == tmp_path / "conf" / "users.htpasswd"
    assert config.token.key == tmp_path / "conf" / "keys" / "k.pem"


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path, environ={}).token.issuer == "regauth"


def test_the_readmes_configuration_reference_is_a_valid_configuration() -> None:
    """Every key the README documents exists (strict validation refuses unknown keys), and
    every section of the configuration is documented there."""
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found is not None
    document = yaml.safe_load(found.group(1))
    parse_config(document)
    undocumented = set(Config.model_fields) - set(document) - {"ldap", "oidc"}
    assert not undocumented, f"sections missing from the README's reference: {undocumented}"
