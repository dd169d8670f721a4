"""The importers on their own: docker_auth's reference sections -> a regauth configuration,
a Keycloak realm export with hashes made here -> accounts whose passwords verify, and the
unknown-key hints."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2.low_level import Type, hash_secret_raw

from regauth.accounts import InvalidInput, check_labels
from regauth.config import ConfigError, load_config, parse_config
from regauth.credentials.passwords import (
    is_importable_hash,
    is_supported_hash,
    verify_password,
)
from regauth.importers import (
    UnreadableFile,
    convert_docker_auth,
    read_docker_auth,
    read_realm_export,
    render_config,
)

DATA = Path(__file__).parent.parent / "data"


def _full() -> dict[str, Any]:
    return read_docker_auth((DATA / "docker_auth_full.yml").read_text())


def test_reference_sections_convert_and_load(tmp_path: Path) -> None:
    conversion = convert_docker_auth(_full(), services=["registry"])
    config = conversion.config
    assert config["server"] == {
        "listen": ":5001",
        "certificate": "/path/to/server.pem",
        "key": "/path/to/server.key",
    }
    # docker_auth signs tokens with the server's key when token: names none
    assert config["token"]["key"] == "/path/to/server.key"
    assert config["token"]["issuer"] == "Acme auth server"
    assert config["token"]["expiration"] == 900
    assert config["users"]["test"]["labels"] == {"group": ["test-group"]}
    assert config["users"][""] == {}
    providers = {p["name"]: p for p in config["oidc"]["providers"]}
    assert providers["github"]["github_organization"] == "acme"
    assert providers["github"]["issuer"] == "https://github.acme.com"
    assert providers["google"]["allowed_email_domains"] == ["example.com"]
    assert providers["oidc"]["username_claim"] == "email"
    assert providers["oidc"]["groups_claim"] == "groups"
    assert providers["gitlab"]["issuer"] == "https://gitlab.acme.com"
    assert "ldap" not in config  # no bind_dn: regauth does not search anonymously
    noted = {n.key for n in conversion.notes}
    for key in (
        "mongo_auth",
        "xorm_auth",
        "ext_auth",
        "plugin_authn",
        "acl_mongo",
        "ext_authz",
        "plugin_authz",
        "casbin_authz",
        "server.letsencrypt",
        "server.real_ip_header",
        "ldap_auth.bind_dn",
    ):
        assert key in noted, key
    rendered = render_config(conversion, "reference.yml")
    assert yaml.safe_load(rendered) == config
    assert "#   mongo_auth: no equivalent" in rendered
    # what the file says is what regauth loads, once the secret files exist on the server
    secret = tmp_path / "client_secret.txt"
    secret.write_text("s3cret\n")
    for provider in yaml.safe_load(rendered)["oidc"]["providers"]:
        assert provider["client_secret_file"] == "/path/to/client_secret.txt"
    loaded = parse_config(
        yaml.safe_load(rendered.replace("/path/to/client_secret.txt", str(secret))), environ={}
    )
    assert [p.client_secret.reveal() for p in loaded.oidc.providers] == ["s3cret"] * 4


def test_users_to_database_keep_labels_and_leave_the_anonymous_entry() -> None:
    conversion = convert_docker_auth(_full(), users_to_database=True)
    assert conversion.config["users"] == {"": {}}
    by_name = {a.username: a for a in conversion.database_users}
    assert by_name["test"].labels == {"group": ["test-group"]}
    assert by_name["admin"].password_hash.startswith("$2y$05$")  # type: ignore[union-attr]
    assert any(n.key == "token.service" for n in conversion.notes)


def test_ldap_with_a_service_account() -> None:
    document = {
        "ldap_auth": {
            "addr": "ldap.example.com:389",
            "tls": "starttls",
            "bind_dn": "cn=reader,dc=example,dc=com",
            "bind_password_file": "/missing/here.txt",
            "base": "dc=example,dc=com",
            "filter": "(&(uid=${account})(objectClass=person))",
            "labels": {"title": {"attribute": "title"}},
        }
    }
    ldap = convert_docker_auth(document).config["ldap"]
    assert ldap["url"] == "ldap://ldap.example.com:389"
    assert ldap["start_tls"] is True
    assert ldap["user_filter"] == "(&(uid={username})(objectClass=person))"
    assert ldap["label_attributes"] == {"title": "title"}
    assert ldap["bind_password_file"] == "/missing/here.txt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users: [\n", "not valid YAML"),
        ("- a list", "expected a mapping of sections"),
        ("users:\n  bob: {}\n", "users.bob: no password hash"),
        ("users:\n  bob:\n    password: x\n    labels: [a]\n", "users.bob.labels"),
        ("acl: {}\n", "acl: expected a list"),
    ],
)
def test_unreadable_files(text: str, message: str) -> None:
    with pytest.raises(UnreadableFile, match=message):
        convert_docker_auth(read_docker_auth(text))


def test_a_result_that_would_not_load_names_regauths_key() -> None:
    document = {"acl": [{"match": {"account": "/(unclosed/"}, "actions": ["*"]}]}
    with pytest.raises(ConfigError, match=r"does not load: acl\[0\]\.match\.account"):
        convert_docker_auth(document)


@pytest.mark.parametrize(
    ("yaml_text", "hint"),
    [
        ("server:\n  addr: ':5001'\n", "server.addr: unknown key; regauth calls it server.listen"),
        ("ldap_auth: {}\n", "ldap_auth: unknown key; regauth calls it ldap"),
        ("token:\n  disable_legacy_key_id: true\n", "regauth calls it token.kid"),
        ("realm: docker\n", "realm: unknown key; regauth has no realms"),
        ("mongo_auth: {}\n", "mongo_auth: unknown key; regauth has no equivalent"),
    ],
)
def test_unknown_keys_name_regauths_key(tmp_path: Path, yaml_text: str, hint: str) -> None:
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert hint in raised.value.problems[0]


def test_unknown_keys_without_a_known_meaning_stay_plain() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"server": {"nonsense": 1}}, environ={})
    assert raised.value.problems == ["server.nonsense: unknown key"]


# ------------------------------------------------------------------------------ Keycloak


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def keycloak_password(password: str, algorithm: str, iterations: int) -> dict[str, Any]:
    """A password credential as Keycloak exports it, hashed here as Keycloak hashes."""
    salt = os.urandom(16)
    if algorithm == "argon2":
        value = hash_secret_raw(password.encode(), salt, 3, 7168, 1, 32, Type.ID)
        params = {
            "type": ["id"],
            "version": ["1.3"],
            "memory": ["7168"],
            "parallelism": ["1"],
            "hashLength": ["32"],
        }
    else:
        digest, size = {
            "pbkdf2-sha256": ("sha256", 32),
            "pbkdf2-sha512": ("sha512", 64),
            "pbkdf2": ("sha1", 64),
        }[algorithm]
        value = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations, size)
        params = {}
    return {
        "type": "password",
        "createdDate": 1700000000000,
        "secretData": json.dumps(
            {"value": _b64(value), "salt": _b64(salt), "additionalParameters": {}}
        ),
        "credentialData": json.dumps(
            {"hashIterations": iterations, "algorithm": algorithm, "additionalParameters": params}
        ),
    }


def realm_export(users: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "realm": "docker",
        "enabled": True,
        "clients": [
            {"clientId": "registry", "protocol": "docker-v2"},
            {"clientId": "account", "protocol": "openid-connect"},
        ],
        "users": users,
    }


def test_keycloak_users_keep_their_passwords() -> None:
    users = [
        {
            "username": "bob",
            "enabled": True,
            "email": "bob@example.com",
            "credentials": [keycloak_password("bob-pw", "pbkdf2-sha256", 27500)],
            "realmRoles": ["default-roles-docker", "offline_access", "docker-push"],
            "groups": ["/devs", "/org/team"],
        },
        {
            "username": "dave",
            "enabled": False,
            "credentials": [keycloak_password("dave-pw", "pbkdf2-sha512", 1000)],
        },
        {"username": "old", "credentials": [keycloak_password("old-pw", "pbkdf2", 1000)]},
        {"username": "newer", "credentials": [keycloak_password("newer-pw", "argon2", 3)]},
        {"username": "service-account-ci", "serviceAccountClientId": "ci"},
        {"username": "ldapuser", "federationLink": "abc", "credentials": []},
    ]
    imported = read_realm_export(json.dumps(realm_export(users)))
    assert imported.realm == "docker"
    assert imported.docker_clients == ["registry"]
    by_name = {a.username: a for a in imported.accounts}
    assert sorted(by_name) == ["bob", "dave", "ldapuser", "newer", "old"]
    bob = by_name["bob"]
    assert bob.groups == ("devs", "org/team", "docker-push")
    assert bob.email == "bob@example.com"
    assert by_name["dave"].enabled is False
    for name in ("bob", "dave", "old", "newer"):
        encoded = by_name[name].password_hash
        assert encoded is not None and is_importable_hash(encoded)
        assert verify_password(encoded, f"{name}-pw".encode()), name
        assert not verify_password(encoded, b"wrong"), name
    assert is_supported_hash(by_name["newer"].password_hash or "")  # argon2id stays as it is
    assert by_name["ldapuser"].password_hash is None
    noted = {n.key for n in imported.notes}
    assert {"users.service-account-ci", "users.ldapuser"} <= noted


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a Keycloak realm export"),
        ('{"users": []}', "holds no users"),
        ('{"users": [{"enabled": true}]}', r"users\[0\]: no username"),
        (
            '{"users": [{"username": "a", "credentials": [{"type": "password", '
            '"secretData": "nope"}]}]}',
            "secretData: not JSON",
        ),
    ],
)
def test_unreadable_realm_exports(document: str, message: str) -> None:
    with pytest.raises(UnreadableFile, match=message):
        read_realm_export(document)


def test_pbkdf2_hashes_with_absurd_iterations_are_refused() -> None:
    credential = keycloak_password("x", "pbkdf2-sha256", 1)
    data = json.loads(credential["credentialData"])
    data["hashIterations"] = 50_000_000
    credential["credentialData"] = json.dumps(data)
    imported = read_realm_export(
        json.dumps(realm_export([{"username": "eve", "credentials": [credential]}]))
    )
    assert imported.accounts[0].password_hash is None
    assert any("cannot verify" in n.what for n in imported.notes)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"bad key": ["x"]}, "invalid label key"),
        ({"group": []}, "at least one value"),
        ({"group": ["a\nb"]}, "printable"),
        ({f"k{i}": ["v"] for i in range(33)}, "at most 32 label keys"),
    ],
)
def test_label_checks(labels: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_labels(labels)
