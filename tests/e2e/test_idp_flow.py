"""End to end with single sign-on tokens: a real OpenID provider (npm oidc-provider v8 on
Node 20), ``regauth serve``, the real docker-registry 2.8 and skopeo.

The provider's access tokens are the docker password: a JWT access token for the registry's
audience (verified with the provider's keys) and an opaque one (introspected). The users and
their groups come from the provider; an administrator grants the provider's group ``devs``
push on ``team/*`` with ``regauth grant add --group devs``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from peers import OciImage, Registry, Skopeo, registry_auth_from_yaml
from tests.oidc.harness import RESOURCE, Account, OidcProvider, provider_entry
from tests.regauth_process import RegauthServer, free_port

SkopeoFactory = Callable[..., Skopeo]


@dataclass
class IdpStack:
    idp: OidcProvider
    regauth: RegauthServer
    registry: Registry
    config: Path
    data_dir: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpStack]:
    workdir = tmp_path_factory.mktemp("idp-stack")
    idp = OidcProvider(
        workdir / "idp",
        redirect_uris=[],
        accounts={"alice": Account(groups=["devs"]), "bob": Account(groups=["ops"])},
    ).start()
    port = free_port()
    config = workdir / "regauth.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"public_url": f"http://127.0.0.1:{port}"},
                "oidc": {
                    "providers": [provider_entry(idp, accept_access_tokens=True, audience=RESOURCE)]
                },
            }
        )
    )
    data_dir = workdir / "regauth-data"
    regauth = RegauthServer(workdir, config=config, data_dir=data_dir, port=port)
    registry = None
    try:
        regauth.wait_ready()
        trust = regauth_cli(config, data_dir, "registry-config", "--out", str(workdir / "trust"))
        auth = registry_auth_from_yaml(trust)
        registry = Registry(workdir / "registry", auth=auth).start()
        yield IdpStack(idp, regauth, registry, config, data_dir)
    finally:
        if registry is not None:
            registry.stop()
        regauth.stop()
        idp.stop()


def regauth_cli(config: Path, data_dir: Path, *args: str) -> str:
    """Run a ``regauth`` command against the stack's data folder; it must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regauth",
            *args,
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"regauth {' '.join(args)}: {result.stderr}"
    return result.stdout


def grant_group(stack: IdpStack, group: str, pattern: str) -> None:
    """``regauth grant add --group`` once the provider's group exists (after a first use),
    then wait until the running server has seen the change."""
    regauth_cli(
        stack.config,
        stack.data_dir,
        *("grant", "add", "--group", group, "--pattern", pattern, "--role", "push"),
    )
    time.sleep(1.0)  # database.sync_interval is 0.5 s


def group_grants(stack: IdpStack) -> list[dict[str, str]]:
    grants: list[dict[str, str]] = json.loads(
        regauth_cli(stack.config, stack.data_dir, "grant", "list", "--json")
    )
    return [g for g in grants if g.get("subject_type") == "group"]


def test_jwt_access_token_as_password_pushes_where_the_group_may(
    stack: IdpStack, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    token = stack.idp.tokens("alice", resource=RESOURCE)["access_token"]
    assert token.count(".") == 2
    client = skopeo(tls_verify=False)
    login = client.login(stack.registry.host, "alice", token)
    assert login.returncode == 0, login.stderr
    # the login created alice and her provider group; nothing is granted to devs yet
    before = client.copy(oci_image.ref, stack.registry.docker_ref("team/app", "1"))
    assert before.returncode != 0
    assert "denied" in before.stderr

    grant_group(stack, "devs", "team/*")
    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("team/app", "1"))
    assert pushed.returncode == 0, pushed.stderr
    elsewhere = client.copy(oci_image.ref, stack.registry.docker_ref("other/app", "1"))
    assert elsewhere.returncode != 0
    assert "denied" in elsewhere.stderr
    # another user name with alice's token is a failed login
    wrong = skopeo(tls_verify=False).login(stack.registry.host, "bob", token)
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr


def test_opaque_access_token_as_password(
    stack: IdpStack, skopeo: SkopeoFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    # alice's group may push to team/* once the first test granted it; make sure either way
    first = stack.idp.tokens("alice")["access_token"]
    assert first.count(".") == 0
    answer = httpx.get(
        stack.regauth.url + "/auth", params={"service": "registry"}, auth=("alice", first)
    )
    assert answer.status_code == 200, answer.text
    if not any(g.get("subject") == "devs" for g in group_grants(stack)):
        grant_group(stack, "devs", "team/*")

    client = skopeo(tls_verify=False)
    login = client.login(stack.registry.host, "alice", first)
    assert login.returncode == 0, login.stderr
    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("team/opaque", "1"))
    assert pushed.returncode == 0, pushed.stderr
    pulled = client.copy(
        stack.registry.docker_ref("team/opaque", "1"), f"oci:{tmp_path / 'pulled'}:1"
    )
    assert pulled.returncode == 0, pulled.stderr
    refused = client.copy(oci_image.ref, stack.registry.docker_ref("other/opaque", "1"))
    assert refused.returncode != 0
    assert "denied" in refused.stderr

    # bob's group (ops) has no grant on team/*; his own namespace is his
    bob = skopeo(tls_verify=False)
    assert (
        bob.login(stack.registry.host, "bob", stack.idp.tokens("bob")["access_token"]).returncode
        == 0
    )
    assert bob.copy(oci_image.ref, stack.registry.docker_ref("team/bob", "1")).returncode != 0
    own = bob.copy(oci_image.ref, stack.registry.docker_ref("bob/app", "1"))
    assert own.returncode == 0, own.stderr


def test_revoked_opaque_token_stops_within_a_minute(stack: IdpStack, skopeo: SkopeoFactory) -> None:
    """Revocation at the provider: regauth asks again after at most 60 s (not waited here:
    a fresh token that is revoked before its first use is refused at once)."""
    token = stack.idp.tokens("alice")["access_token"]
    stack.idp.revoke(token)
    refused = skopeo(tls_verify=False).login(stack.registry.host, "alice", token)
    assert refused.returncode != 0
    assert "invalid username/password" in refused.stderr
