"""Moving to regauth end to end: a docker_auth configuration and a Keycloak realm export are
imported with one command each, a real ``regauth serve`` runs on the result, and skopeo pushes
to the real registry as the imported users, whose rights come from a docker_auth label and a
Keycloak realm role."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import yaml
from peers import OciImage, Registry, Skopeo, registry_auth_from_yaml
from tests.regauth_process import RegauthServer, free_port
from tests.unit.test_importers import keycloak_password, realm_export

SkopeoFactory = Callable[..., Skopeo]


def regauth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "regauth", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    assert result.returncode == 0, f"regauth {' '.join(args)}: {result.stderr}"
    return result


def docker_auth_config(port: int) -> dict[str, object]:
    """A docker_auth file as its users write it: static users with labels, rules from
    examples/reference.yml."""
    return {
        "server": {"addr": f"127.0.0.1:{port}"},
        "token": {"issuer": "Acme auth server", "expiration": 900},
        "users": {
            "alice": {
                "password": bcrypt.hashpw(b"alice-pw", bcrypt.gensalt(5)).decode(),
                "labels": {"group": ["dev"]},
            },
            "carol": {"password": bcrypt.hashpw(b"carol-pw", bcrypt.gensalt(5)).decode()},
            "": {},
        },
        "acl": [
            {
                "match": {"name": "${labels:group}-shared/*"},
                "actions": ["push", "pull"],
                "comment": "Users can push to the shared namespace of any group they are in",
            },
            {"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]},
        ],
    }


def test_docker_auth_and_keycloak_users_push_after_the_move(
    tmp_path: Path, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    port = free_port()
    source = tmp_path / "auth_config.yml"
    source.write_text(yaml.safe_dump(docker_auth_config(port)))
    data = ["--data-dir", str(tmp_path / "regauth-data")]
    converted = regauth(
        "import",
        "docker-auth",
        str(source),
        "--out",
        "regauth.yaml",
        "--users-to-database",
        "--service",
        "registry",
        *data,
        cwd=tmp_path,
    )
    assert "imported 2 user(s) into the database" in converted.stdout
    export = tmp_path / "realm-export.json"
    export.write_text(
        json.dumps(
            realm_export(
                [
                    {
                        "username": "bob",
                        "enabled": True,
                        "email": "bob@example.com",
                        "credentials": [keycloak_password("bob-pw", "pbkdf2-sha256", 27500)],
                        "realmRoles": ["default-roles-docker", "docker-push"],
                    },
                    {
                        "username": "dave",
                        "enabled": False,
                        "credentials": [keycloak_password("dave-pw", "pbkdf2-sha512", 210000)],
                        "realmRoles": ["docker-push"],
                    },
                ]
            )
        )
    )
    config = ["--config", str(tmp_path / "regauth.yaml"), *data]
    regauth("import", "keycloak", str(export), *config, cwd=tmp_path)
    regauth(
        "grant",
        "add",
        "--group",
        "docker-push",
        "--pattern",
        "team/*",
        "--role",
        "push",
        *config,
        cwd=tmp_path,
    )

    server = RegauthServer(
        tmp_path, config=tmp_path / "regauth.yaml", data_dir=tmp_path / "regauth-data", port=port
    )
    registry = None
    try:
        server.wait_ready()
        printed = regauth(
            "registry-config", *config, "--out", str(tmp_path / "trust"), cwd=tmp_path
        ).stdout
        registry = Registry(tmp_path / "registry", auth=registry_auth_from_yaml(printed)).start()

        def push(user: str, password: str, repository: str) -> subprocess.CompletedProcess[str]:
            client = skopeo(tls_verify=False)
            return client.copy(
                oci_image.ref,
                registry.docker_ref(repository, "1"),  # type: ignore[union-attr]
                "--dest-creds",
                f"{user}:{password}",
            )

        # docker_auth: the label gives alice dev-shared/*, carol has no label yet
        assert push("alice", "alice-pw", "dev-shared/app").returncode == 0
        assert push("carol", "carol-pw", "dev-shared/app").returncode != 0
        regauth("user", "label", "carol", "group=dev", *config, cwd=tmp_path)
        pushed = push("carol", "carol-pw", "dev-shared/app")
        assert pushed.returncode == 0, pushed.stderr

        # Keycloak: the old password logs in once, and the hash is argon2id from then on
        database = tmp_path / "regauth-data" / "regauth.db"

        def stored_hash(user: str) -> str:
            with sqlite3.connect(database) as connection:
                row = connection.execute(
                    "SELECT password_hash FROM users WHERE username = ?", (user,)
                ).fetchone()
            return str(row[0])

        assert stored_hash("bob").startswith("$pbkdf2-sha256$i=27500$")
        realm = f"{server.url}/auth"
        login = httpx.get(realm, params={"service": "registry"}, auth=("bob", "bob-pw"))
        assert login.status_code == 200, login.text
        assert stored_hash("bob").startswith("$argon2id$")
        wrong = httpx.get(realm, params={"service": "registry"}, auth=("bob", "nope"))
        assert wrong.status_code == 401
        disabled = httpx.get(realm, params={"service": "registry"}, auth=("dave", "dave-pw"))
        assert disabled.status_code == 401
        pushed = push("bob", "bob-pw", "team/app")
        assert pushed.returncode == 0, pushed.stderr
        assert push("bob", "bob-pw", "other/app").returncode != 0
    finally:
        if registry is not None:
            registry.stop()
        server.stop()
