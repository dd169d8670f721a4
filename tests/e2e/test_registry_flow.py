"""End to end: the real docker-registry 2.8, configured from ``regauth registry-config``, and the
real skopeo and podman, through a real ``regauth serve``.

One regauth and one registry serve the whole module; every test uses its own repositories.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from peers import (
    OciImage,
    Podman,
    Registry,
    Skopeo,
    TestCA,
    decode_jwt_unverified,
    get_v2,
    registry_auth_from_yaml,
    registry_catalog,
    request_token,
)
from tests.regauth_process import RegauthServer

PASSWORDS = {
    "admin": "admin-pw",
    "alice": "alice-pw",
    "bob": "bob-pw",
    "puller": "puller-pw",
    "deleter": "deleter-pw",
}

ACL: list[dict[str, Any]] = [
    {"match": {"account": "admin"}, "actions": ["*"], "comment": "admin: everything"},
    {
        "match": {"account": "deleter", "name": "shared/*"},
        "actions": ["pull", "delete"],
        "comment": "deleter may pull and delete shared/*",
    },
    {"match": {"account": "puller"}, "actions": ["pull"], "comment": "puller may only pull"},
    {
        "match": {"account": "/.+/", "name": "${account}/*"},
        "actions": ["*"],
        "comment": "users own their namespace",
    },
    {
        "match": {"name": "public/*"},
        "actions": ["pull"],
        "comment": "everyone, anonymous included, may pull public/*",
    },
]


def regauth_config(path: Path, **extra: Any) -> Path:
    users = {
        name: {"password": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}
        for name, pw in PASSWORDS.items()
    }
    document: dict[str, Any] = {"users": users, "acl": ACL, **extra}
    path.write_text(yaml.safe_dump(document))
    return path


def registry_config_output(config: Path, data_dir: Path, out: Path, fmt: str = "yaml") -> str:
    completed = subprocess.run(
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
            str(out),
            "--format",
            fmt,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout


@dataclass
class Stack:
    regauth: RegauthServer
    registry: Registry
    realm: str
    config: Path
    data_dir: Path
    workdir: Path

    def token(self, username: str | None, *scopes: str) -> str:
        password = PASSWORDS.get(username) if username else None
        response = request_token(
            self.realm,
            service="registry",
            scopes=scopes,
            username=username,
            password=password,
            verify=self.regauth.ca_file or False,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


def start_stack(workdir: Path, *, ca: TestCA | None = None, **config_extra: Any) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    if ca is not None:
        config_extra.setdefault(
            "server", {"certificate": str(ca.server_cert), "key": str(ca.server_key)}
        )
    config = regauth_config(workdir / "regauth.yaml", **config_extra)
    data_dir = workdir / "regauth-data"
    regauth = RegauthServer(
        workdir,
        config=config,
        data_dir=data_dir,
        scheme="https" if ca else "http",
        ca_file=ca.ca_cert if ca else None,
    )
    # the realm must be where this regauth listens: give it through the environment, as a
    # user would with REGAUTH_SERVER__PUBLIC_URL
    regauth.wait_ready()
    out = workdir / "trust"
    auth = registry_auth_from_yaml(_with_public_url(config, regauth.url, data_dir, out))
    registry = Registry(workdir / "registry", auth=auth, tls=ca)
    registry.start()
    return Stack(regauth, registry, auth["token"]["realm"], config, data_dir, workdir)


def _with_public_url(config: Path, url: str, data_dir: Path, out: Path) -> str:
    document = yaml.safe_load(config.read_text())
    document.setdefault("server", {})["public_url"] = url
    config.write_text(yaml.safe_dump(document))
    return registry_config_output(config, data_dir, out)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    built = start_stack(tmp_path_factory.mktemp("stack"))
    yield built
    built.registry.stop()
    built.regauth.stop()


@pytest.fixture(scope="module")
def seeded(stack: Stack, oci_image: OciImage, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Images the admin pushed: shared/app:1, shared/app:doomed, public/app:1, private/app:1."""
    admin = Skopeo(tmp_path_factory.mktemp("seed"), tls_verify=False)
    try:
        creds = f"admin:{PASSWORDS['admin']}"
        for target in ("shared/app:1", "shared/app:doomed", "public/app:1", "private/app:1"):
            repo, tag = target.split(":")
            result = admin.copy(
                oci_image.ref, stack.registry.docker_ref(repo, tag), "--dest-creds", creds
            )
            assert result.returncode == 0, result.stderr
    finally:
        admin.close()
    return stack


SkopeoFactory = Callable[..., Skopeo]
PodmanFactory = Callable[..., Podman]


def test_registry_challenges_with_regauths_realm(stack: Stack) -> None:
    response = get_v2(stack.registry.url)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert f'realm="{stack.regauth.url}/auth"' in challenge
    assert 'service="registry"' in challenge


def test_login_right_and_wrong_password(
    stack: Stack, skopeo: SkopeoFactory, podman: PodmanFactory
) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(stack.registry.host, "alice", "alice-pw").returncode == 0
    wrong = client.login(stack.registry.host, "alice", "not-the-password")
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr
    unknown = client.login(stack.registry.host, "mallory", "whatever")
    assert unknown.returncode != 0
    pod = podman(tls_verify=False)
    assert pod.login(stack.registry.host, "bob", "bob-pw").returncode == 0
    assert pod.login(stack.registry.host, "bob", "nope").returncode != 0


def test_push_to_own_namespace_only(
    stack: Stack, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(stack.registry.host, "alice", "alice-pw").returncode == 0
    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("alice/app", "1"))
    assert pushed.returncode == 0, pushed.stderr
    inspected = client.inspect(stack.registry.docker_ref("alice/app", "1"))
    assert inspected.returncode == 0, inspected.stderr
    foreign = client.copy(oci_image.ref, stack.registry.docker_ref("bob/app", "1"))
    assert foreign.returncode != 0
    assert "denied" in foreign.stderr


def test_pull_only_user(
    seeded: Stack, skopeo: SkopeoFactory, podman: PodmanFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(seeded.registry.host, "puller", "puller-pw").returncode == 0
    pulled = client.copy(
        seeded.registry.docker_ref("shared/app", "1"), f"oci:{tmp_path / 'pulled'}:1"
    )
    assert pulled.returncode == 0, pulled.stderr
    pushed = client.copy(oci_image.ref, seeded.registry.docker_ref("shared/app", "2"))
    assert pushed.returncode != 0
    assert "denied" in pushed.stderr
    deleted = client.delete(seeded.registry.docker_ref("shared/app", "1"))
    assert deleted.returncode != 0
    # the image is still there
    assert client.inspect(seeded.registry.docker_ref("shared/app", "1")).returncode == 0
    pod = podman(tls_verify=False)
    assert pod.login(seeded.registry.host, "puller", "puller-pw").returncode == 0
    assert pod.pull(seeded.registry.ref("shared/app", "1")).returncode == 0


def test_user_with_delete_can_delete(seeded: Stack, skopeo: SkopeoFactory) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(seeded.registry.host, "deleter", "deleter-pw").returncode == 0
    ref = seeded.registry.docker_ref("shared/app", "doomed")
    deleted = client.delete(ref)
    assert deleted.returncode == 0, deleted.stderr
    gone = client.inspect(ref)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr


def test_anonymous_pull_of_public_and_login_prompt_elsewhere(
    seeded: Stack, skopeo: SkopeoFactory, tmp_path: Path
) -> None:
    client = skopeo(tls_verify=False)
    public = client.copy(
        seeded.registry.docker_ref("public/app", "1"), f"oci:{tmp_path / 'public'}:1"
    )
    assert public.returncode == 0, public.stderr
    private = client.inspect(seeded.registry.docker_ref("private/app", "1"))
    assert private.returncode != 0
    assert "invalid username/password" in private.stderr  # skopeo's words for a 401 prompt
    # what the client got from regauth: a Basic challenge, the cue to ask for a login
    response = httpx.get(
        seeded.realm, params={"service": "registry", "scope": "repository:private/app:pull"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_catalog_only_for_those_the_acl_allows(seeded: Stack) -> None:
    admin = seeded.token("admin", "registry:catalog:*")
    repositories = registry_catalog(seeded.registry.url, admin)
    assert {"shared/app", "public/app", "private/app"} <= set(repositories)
    alice = seeded.token("alice", "registry:catalog:*")
    refused = httpx.get(
        seeded.registry.url + "/v2/_catalog", headers={"Authorization": f"Bearer {alice}"}
    )
    assert refused.status_code == 401
    _, claims = decode_jwt_unverified(alice)
    assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": []}]


def test_token_from_another_key_is_rejected(seeded: Stack, tmp_path: Path) -> None:
    url = seeded.registry.url + "/v2/public/app/tags/list"
    good = seeded.token("admin", "repository:public/app:pull")
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # the same configuration, another data folder: another signing key
    with RegauthServer(tmp_path, config=seeded.config, data_dir=tmp_path / "other") as rogue:
        response = request_token(
            rogue.url + "/auth",
            service="registry",
            scopes=["repository:public/app:pull"],
            username="admin",
            password=PASSWORDS["admin"],
        )
        forged = response.json()["token"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert "untrusted" in seeded.registry.log_text() or "invalid token" in (
        seeded.registry.log_text()
    )


@pytest.mark.parametrize(
    ("token_settings", "accepted"),
    [
        ({"kid": "libtrust", "x5c": False}, True),  # registry 2.x finds the key by libtrust kid
        ({"kid": "thumbprint", "x5c": True}, True),  # the registry 3.x style, via x5c on 2.8
        ({"kid": "thumbprint", "x5c": False}, False),  # 2.8 knows no thumbprints
    ],
)
def test_key_identification_styles(
    seeded: Stack, tmp_path: Path, token_settings: dict[str, Any], accepted: bool
) -> None:
    document = yaml.safe_load(seeded.config.read_text())
    document["token"] = token_settings
    config = tmp_path / "variant.yaml"
    config.write_text(yaml.safe_dump(document))
    # same data folder, so the same key the registry trusts
    with RegauthServer(tmp_path, config=config, data_dir=seeded.data_dir) as variant:
        response = request_token(
            variant.url + "/auth",
            service="registry",
            scopes=["repository:public/app:pull"],
            username="admin",
            password=PASSWORDS["admin"],
        )
    token = response.json()["token"]
    header, _ = decode_jwt_unverified(token)
    assert ("x5c" in header) is token_settings["x5c"]
    status = httpx.get(
        seeded.registry.url + "/v2/public/app/tags/list",
        headers={"Authorization": f"Bearer {token}"},
    ).status_code
    assert status == (200 if accepted else 401)


def test_podman_push_and_pull_own_namespace(seeded: Stack, podman: PodmanFactory) -> None:
    pod = podman(tls_verify=False)
    assert pod.login(seeded.registry.host, "bob", "bob-pw").returncode == 0
    assert pod.pull(seeded.registry.ref("public/app", "1")).returncode == 0
    target = seeded.registry.ref("bob/copy", "1")
    assert pod.tag(seeded.registry.ref("public/app", "1"), target).returncode == 0
    pushed = pod.push(target)
    assert pushed.returncode == 0, pushed.stderr
    elsewhere = seeded.registry.ref("alice/copy", "1")
    assert pod.tag(seeded.registry.ref("public/app", "1"), elsewhere).returncode == 0
    refused = pod.push(elsewhere)
    assert refused.returncode != 0
    assert "denied" in refused.stderr


def test_over_https(
    tmp_path: Path,
    test_ca: TestCA,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
) -> None:
    secure = start_stack(tmp_path / "tls", ca=test_ca)
    try:
        assert secure.realm.startswith("https://")
        client = skopeo(tls_verify=True, cert_dir=test_ca.cert_dir)
        assert client.login(secure.registry.host, "alice", "alice-pw").returncode == 0
        pushed = client.copy(oci_image.ref, secure.registry.docker_ref("alice/tls", "1"))
        assert pushed.returncode == 0, pushed.stderr
        assert client.login(secure.registry.host, "alice", "wrong").returncode != 0
        pod = podman(tls_verify=True, cert_dir=test_ca.cert_dir)
        assert pod.login(secure.registry.host, "alice", "alice-pw").returncode == 0
        assert pod.pull(secure.registry.ref("alice/tls", "1")).returncode == 0
    finally:
        secure.registry.stop()
        secure.regauth.stop()


def test_registry_configured_from_env_format(
    stack: Stack, tmp_path: Path, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    lines = registry_config_output(stack.config, stack.data_dir, tmp_path / "trust", fmt="env")
    env = dict(line.split("=", 1) for line in lines.strip().splitlines())
    assert set(env) >= {
        "REGISTRY_AUTH_TOKEN_REALM",
        "REGISTRY_AUTH_TOKEN_SERVICE",
        "REGISTRY_AUTH_TOKEN_ISSUER",
        "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE",
    }
    registry = Registry(tmp_path / "env-registry", env=env)
    registry.start()
    try:
        challenge = get_v2(registry.url).headers["www-authenticate"]
        assert env["REGISTRY_AUTH_TOKEN_REALM"] in challenge
        client = skopeo(tls_verify=False)
        assert client.login(registry.host, "alice", "alice-pw").returncode == 0
        pushed = client.copy(oci_image.ref, registry.docker_ref("alice/env", "1"))
        assert pushed.returncode == 0, pushed.stderr
    finally:
        registry.stop()
