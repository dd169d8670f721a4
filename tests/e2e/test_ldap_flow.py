"""End to end with LDAP users: a real OpenLDAP slapd (over ldaps://, verified against its CA),
the real docker-registry 2.8 and skopeo, and ``regauth serve`` with an ``ldap:`` section.

Directory users log in with their directory passwords; their directory groups become regauth
groups at the first login, and a role grant made with ``regauth grant add --group`` lets the
members push there and nowhere else. One slapd, one regauth and one registry serve the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from peers import OciImage, Registry, Skopeo, decode_jwt_unverified, registry_auth_from_yaml
from tests.ldap_server import LdapServer, LdapUser
from tests.regauth_process import RegauthServer, free_port, run_regauth

SkopeoFactory = Callable[..., Skopeo]


@dataclass
class LdapStack:
    slapd: LdapServer
    regauth: RegauthServer
    registry: Registry
    config: Path
    data_dir: Path
    users: dict[str, LdapUser]

    @property
    def realm(self) -> str:
        return self.regauth.url + "/auth"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_regauth(
            *args,
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            cwd=self.config.parent,
            check=True,
        )

    def granted(self, user: str, scope: str) -> list[str]:
        """The actions a token for ``user`` carries for ``scope`` (asked directly)."""
        response = httpx.get(
            self.realm,
            params={"service": "registry", "scope": scope},
            auth=(user, self.users[user].password),
        )
        assert response.status_code == 200, response.text
        _, claims = decode_jwt_unverified(response.json()["token"])
        return sorted(claims["access"][0]["actions"])

    def wait_granted(self, user: str, scope: str, expected: list[str]) -> None:
        """Grants made with the CLI reach the server within ``database.sync_interval``."""
        deadline = time.monotonic() + 10
        while self.granted(user, scope) != expected:
            assert time.monotonic() < deadline, f"{user} never got {expected} on {scope}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapStack]:
    workdir = tmp_path_factory.mktemp("ldap-stack")
    with LdapServer(workdir / "slapd") as slapd:
        users = {
            "lena": slapd.add_user("lena", "lena-directory-pw", mail="lena@example.com"),
            "max": slapd.add_user("max", "max-directory-pw", mail="max@example.com"),
        }
        slapd.add_group("platform", [users["lena"]])
        slapd.add_group("support", [users["max"]])
        secret = workdir / "ldap-bind-password"
        secret.write_text(slapd.service_password + "\n")
        port = free_port()
        config = workdir / "regauth.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "server": {"public_url": f"http://127.0.0.1:{port}"},
                    "ldap": {
                        "url": slapd.ldaps_url,
                        "ca_file": str(slapd.ca_file),
                        "bind_dn": slapd.service_dn,
                        "bind_password_file": str(secret),
                        "base_dn": slapd.suffix,
                        "timeout": 3,
                    },
                }
            )
        )
        data_dir = workdir / "regauth-data"
        regauth = RegauthServer(workdir, config=config, data_dir=data_dir, port=port)
        registry = None
        try:
            regauth.wait_ready()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "regauth",
                    "registry-config",
                    "--config",
                    str(config),
                    "--data-dir",
                    str(data_dir),
                    "--out",
                    str(workdir / "trust"),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            registry = Registry(workdir / "registry", auth=registry_auth_from_yaml(out)).start()
            yield LdapStack(slapd, regauth, registry, config, data_dir, users)
        finally:
            if registry is not None:
                registry.stop()
            regauth.stop()
            assert "lena-directory-pw" not in regauth.output() + regauth.errors()


def test_ldap_group_grant_lets_members_push_there_only(
    stack: LdapStack, skopeo: SkopeoFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    registry = stack.registry
    lena = skopeo(tls_verify=False)
    login = lena.login(registry.host, "lena", stack.users["lena"].password)
    assert login.returncode == 0, login.stderr
    # the first login made lena a regauth user of source ldap, in the group "platform"
    shown = json.loads(stack.cli("user", "show", "lena", "--json").stdout)
    assert (shown["source"], shown["groups"], shown["email"]) == (
        "ldap",
        ["platform"],
        "lena@example.com",
    )
    refused = lena.copy(oci_image.ref, registry.docker_ref("platform/app", "1"))
    assert refused.returncode != 0
    assert "denied" in refused.stderr

    stack.cli("grant", "add", "--group", "platform", "--pattern", "platform/*", "--role", "push")
    stack.wait_granted("lena", "repository:platform/app:pull,push", ["pull", "push"])

    pushed = lena.copy(oci_image.ref, registry.docker_ref("platform/app", "1"))
    assert pushed.returncode == 0, pushed.stderr
    pulled = lena.copy(registry.docker_ref("platform/app", "1"), f"oci:{tmp_path / 'p'}:1")
    assert pulled.returncode == 0, pulled.stderr
    # her own namespace is hers; the other group's is not
    own = lena.copy(oci_image.ref, registry.docker_ref("lena/app", "1"))
    assert own.returncode == 0, own.stderr
    elsewhere = lena.copy(oci_image.ref, registry.docker_ref("support/app", "1"))
    assert elsewhere.returncode != 0
    assert "denied" in elsewhere.stderr

    # max is in the directory, but not in "platform": he may pull nothing there
    max_ = skopeo(tls_verify=False)
    assert max_.login(registry.host, "max", stack.users["max"].password).returncode == 0
    not_his = max_.copy(oci_image.ref, registry.docker_ref("platform/other", "1"))
    assert not_his.returncode != 0
    assert "denied" in not_his.stderr
    assert stack.granted("max", "repository:platform/app:pull,push") == []


def test_wrong_directory_password_is_refused(stack: LdapStack, skopeo: SkopeoFactory) -> None:
    client = skopeo(tls_verify=False)
    wrong = client.login(stack.registry.host, "lena", "not-lenas-password")
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr
    unknown = client.login(stack.registry.host, "nobody", "whatever")
    assert unknown.returncode != 0
    assert "invalid username/password" in unknown.stderr
    events = [json.loads(line) for line in stack.regauth.output().splitlines() if line[:1] == "{"]
    reasons = {e.get("reason") for e in events if e.get("event") == "token"}
    assert "ldap: wrong password" in reasons
