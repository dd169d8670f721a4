"""End to end with database accounts: the real docker-registry 2.8, skopeo and podman, and a
``regauth serve`` whose users, groups, grants, robots and tokens were made with the ``regauth``
command line (no static users, no ACL: the grants decide).

One regauth and one registry serve the whole module; each test has its own users or
repositories, and its own isolated clients.

What containers/image (skopeo 1.9, podman 4.3) does with an ``identitytoken`` in auth.json,
as observed here: an entry holding *only* ``identitytoken`` is ignored (the tool asks as
anonymous); with ``auth`` set to base64 of ``USER:`` (an empty password, as Docker writes it)
beside it, the tool POSTs ``grant_type=refresh_token`` with ``client_id=containers/image``
for every token.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from peers import (
    OciImage,
    Podman,
    Registry,
    Skopeo,
    decode_jwt_unverified,
    registry_auth_from_yaml,
)
from tests.regauth_process import RegauthServer, free_port

SkopeoFactory = Callable[..., Skopeo]
PodmanFactory = Callable[..., Podman]

PASSWORDS = {"seeder": "seeder-pw", "alice": "alice-pw", "rita": "rita-pw"}


@dataclass
class AccountsStack:
    regauth: RegauthServer
    registry: Registry
    config: Path
    data_dir: Path
    workdir: Path
    #: robot secrets and personal access tokens made at set-up, by name
    secrets: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.regauth.url + "/auth"

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        (result,) = run_cli(self.config, self.data_dir, (list(args), input))
        return result

    def token_events(self, since: int = 0) -> list[dict[str, Any]]:
        """regauth's JSON token events on stdout, from line ``since`` on."""
        events = []
        for line in self.regauth.output().splitlines()[since:]:
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == "token":
                    events.append(event)
        return events

    def log_position(self) -> int:
        return len(self.regauth.output().splitlines())


def run_cli(
    config: Path, data_dir: Path, *commands: tuple[list[str], str | None]
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``regauth`` commands at once (each is a Python start, about 1.5 s here); every
    one must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    children = []
    for args, stdin in commands:
        child = subprocess.Popen(
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
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=config.parent,
        )
        children.append((child, stdin))
    results = []
    for child, stdin in children:
        out, err = child.communicate(stdin, timeout=60)
        result = subprocess.CompletedProcess(child.args, child.returncode, out, err)
        assert result.returncode == 0, f"{' '.join(child.args[3:])}: {err}"
        results.append(result)
    return results


def token_create(username: str, name: str, *limits: str) -> list[str]:
    return ["token", "create", "--user", username, "--name", name, *limits, "--json"]


def _registry_config(config: Path, data_dir: Path, out: Path) -> str:
    return subprocess.run(
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
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, oci_image: OciImage) -> Iterator[AccountsStack]:
    workdir = tmp_path_factory.mktemp("accounts-stack")
    port = free_port()
    config = workdir / "regauth.yaml"
    # no users, no acl: database accounts and their grants only
    config.write_text(yaml.safe_dump({"server": {"public_url": f"http://127.0.0.1:{port}"}}))
    data_dir = workdir / "regauth-data"
    data_dir.mkdir()  # admin commands use a data folder, never make one

    def cli(*commands: tuple[list[str], str | None]) -> list[subprocess.CompletedProcess[str]]:
        return run_cli(config, data_dir, *commands)

    # the first command creates the database; the rest run side by side
    cli((["user", "add", "seeder"], PASSWORDS["seeder"] + "\n"))
    robot = cli(
        (["grant", "add", "--user", "seeder", "--pattern", "*", "--role", "admin"], None),
        (["user", "add", "alice"], PASSWORDS["alice"] + "\n"),
        (["user", "add", "rita"], PASSWORDS["rita"] + "\n"),
        (["group", "add", "devs"], None),
        (["robot", "create", "ci", "--grant", "ci/*=push", "--json"], None),
    )[-1]
    made = cli(
        (["group", "add-member", "devs", "alice"], None),
        (["grant", "add", "--group", "devs", "--pattern", "team/*", "--role", "push"], None),
        (token_create("alice", "ro", "--read-only"), None),
        (token_create("alice", "team", "--repository", "team/*"), None),
        (token_create("alice", "doomed"), None),
    )
    secrets = {"robot": json.loads(robot.stdout)["secret"]}
    token_ids = {}
    for result in made[2:]:
        created = json.loads(result.stdout)
        secrets[created["name"]] = created["secret"]
        token_ids[created["name"]] = created["id"]

    regauth = RegauthServer(workdir, config=config, data_dir=data_dir, port=port)
    registry = None
    try:
        regauth.wait_ready()
        auth = registry_auth_from_yaml(_registry_config(config, data_dir, workdir / "trust"))
        registry = Registry(workdir / "registry", auth=auth).start()
        built = AccountsStack(regauth, registry, config, data_dir, workdir, secrets, token_ids)
        seeder = Skopeo(workdir / "seed", tls_verify=False)
        try:
            creds = f"seeder:{PASSWORDS['seeder']}"
            for repository in ("team/base", "alice/app"):
                pushed = seeder.copy(
                    oci_image.ref, registry.docker_ref(repository, "1"), "--dest-creds", creds
                )
                assert pushed.returncode == 0, pushed.stderr
        finally:
            seeder.close()
        yield built
    finally:
        if registry is not None:
            registry.stop()
        regauth.stop()


def write_identity_token(client: Skopeo | Podman, host: str, entry: dict[str, str]) -> None:
    client.authfile.write_text(json.dumps({"auths": {host: entry}}))


def docker_style_entry(username: str, refresh_token: str) -> dict[str, str]:
    """What ``docker login`` writes for an identity token: ``auth`` is ``USER:`` (no
    password) and the refresh token is the ``identitytoken``."""
    return {
        "auth": base64.b64encode(f"{username}:".encode()).decode(),
        "identitytoken": refresh_token,
    }


def refresh_token_by_get(stack: AccountsStack, username: str) -> str:
    """``docker login``'s way: GET with Basic credentials, ``offline_token=true``."""
    response = httpx.get(
        stack.realm,
        params={
            "service": "registry",
            "account": username,
            "client_id": "docker",
            "offline_token": "true",
        },
        auth=(username, PASSWORDS[username]),
    )
    assert response.status_code == 200, response.text
    token = response.json()["refresh_token"]
    assert isinstance(token, str) and token.startswith("regauth_rt_")
    return token


def refresh_token_by_post(stack: AccountsStack, username: str) -> str:
    """The OAuth2 form: ``grant_type=password`` with ``access_type=offline``."""
    response = httpx.post(
        stack.realm,
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORDS[username],
            "service": "registry",
            "client_id": "e2e-test",
            "access_type": "offline",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["refresh_token"]
    assert isinstance(token, str) and token.startswith("regauth_rt_")
    return token


# ------------------------------------------------------------------------------ tests


def test_robot_pushes_only_where_its_grant_allows(
    stack: AccountsStack, skopeo: SkopeoFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    client = skopeo(tls_verify=False)
    creds = f"robot+ci:{stack.secrets['robot']}"
    pushed = client.copy(
        oci_image.ref, stack.registry.docker_ref("ci/app", "1"), "--dest-creds", creds
    )
    assert pushed.returncode == 0, pushed.stderr
    refused = client.copy(
        oci_image.ref, stack.registry.docker_ref("other/app", "1"), "--dest-creds", creds
    )
    assert refused.returncode != 0
    assert "denied" in refused.stderr
    # push includes pull, after a login with the robot's name and secret
    assert client.login(stack.registry.host, "robot+ci", stack.secrets["robot"]).returncode == 0
    pulled = client.copy(stack.registry.docker_ref("ci/app", "1"), f"oci:{tmp_path / 'ci'}:1")
    assert pulled.returncode == 0, pulled.stderr
    # a wrong secret is a failed login, not an anonymous one
    wrong = client.login(stack.registry.host, "robot+ci", "regauth_robot_not-the-secret")
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr


def test_read_only_token_logs_in_and_pulls_but_cannot_push(
    stack: AccountsStack,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
    tmp_path: Path,
) -> None:
    client = skopeo(tls_verify=False)
    login = client.login(stack.registry.host, "alice", stack.secrets["ro"])
    assert login.returncode == 0, login.stderr
    pulled = client.copy(stack.registry.docker_ref("team/base", "1"), f"oci:{tmp_path / 'ro'}:1")
    assert pulled.returncode == 0, pulled.stderr
    # alice may push to team/* (group devs) and to alice/* (her namespace): the token may not
    for repository in ("team/ro", "alice/ro"):
        refused = client.copy(oci_image.ref, stack.registry.docker_ref(repository, "1"))
        assert refused.returncode != 0, repository
        assert "denied" in refused.stderr
    pod = podman(tls_verify=False)
    assert pod.login(stack.registry.host, "alice", stack.secrets["ro"]).returncode == 0
    assert pod.pull(stack.registry.ref("alice/app", "1")).returncode == 0


def test_repository_limited_token_stays_inside_its_repositories(
    stack: AccountsStack, skopeo: SkopeoFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(stack.registry.host, "alice", stack.secrets["team"]).returncode == 0
    inside = client.copy(stack.registry.docker_ref("team/base", "1"), f"oci:{tmp_path / 't'}:1")
    assert inside.returncode == 0, inside.stderr
    # her own namespace, which her password opens, is outside the token's repositories
    outside = client.copy(stack.registry.docker_ref("alice/app", "1"), f"oci:{tmp_path / 'a'}:1")
    assert outside.returncode != 0
    assert "denied" in outside.stderr
    # no action limit: inside team/* it pushes as alice may
    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("team/limited", "1"))
    assert pushed.returncode == 0, pushed.stderr


def test_revoked_token_is_refused(stack: AccountsStack, skopeo: SkopeoFactory) -> None:
    client = skopeo(tls_verify=False)
    token = stack.secrets["doomed"]
    assert client.login(stack.registry.host, "alice", token).returncode == 0
    ref = stack.registry.docker_ref("team/base", "1")
    assert client.inspect(ref).returncode == 0

    stack.cli("token", "revoke", str(stack.token_ids["doomed"]))
    refused = client.inspect(ref)  # with the stored credentials
    assert refused.returncode != 0
    assert "invalid username/password" in refused.stderr
    again = client.login(stack.registry.host, "alice", token)
    assert again.returncode != 0
    assert "invalid username/password" in again.stderr


def test_group_grant_lets_members_push(
    stack: AccountsStack, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    client = skopeo(tls_verify=False)
    assert client.login(stack.registry.host, "alice", PASSWORDS["alice"]).returncode == 0
    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("team/x", "1"))
    assert pushed.returncode == 0, pushed.stderr
    refused = client.copy(oci_image.ref, stack.registry.docker_ref("other/x", "1"))
    assert refused.returncode != 0
    assert "denied" in refused.stderr


def test_identity_token_alone_in_auth_json_is_not_used(
    stack: AccountsStack, skopeo: SkopeoFactory, podman: PodmanFactory
) -> None:
    """containers/image only reads ``identitytoken`` from an entry whose ``auth`` decodes to
    ``USER:PASSWORD`` (the password may be empty); ``{"identitytoken": ...}`` alone is
    skipped, and the tools ask as anonymous."""
    refresh_token = refresh_token_by_get(stack, "alice")
    since = stack.log_position()
    client = skopeo(tls_verify=False)
    write_identity_token(client, stack.registry.host, {"identitytoken": refresh_token})
    anonymous = client.inspect(stack.registry.docker_ref("alice/app", "1"))
    assert anonymous.returncode != 0
    assert "invalid username/password" in anonymous.stderr
    pod = podman(tls_verify=False)
    write_identity_token(pod, stack.registry.host, {"identitytoken": refresh_token})
    assert pod.pull(stack.registry.ref("alice/app", "1")).returncode != 0
    asked = [e for e in stack.token_events(since) if "alice/app" in str(e.get("scopes"))]
    assert asked, "no token request seen"
    assert all((e["account"], e["grant_type"], e["status"]) == ("", "basic", 401) for e in asked)


def test_refresh_token_as_identity_token_for_skopeo_and_podman(
    stack: AccountsStack,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
    tmp_path: Path,
) -> None:
    host = stack.registry.host
    client = skopeo(tls_verify=False)
    write_identity_token(
        client, host, docker_style_entry("rita", refresh_token_by_get(stack, "rita"))
    )
    pod = podman(tls_verify=False)
    write_identity_token(
        pod, host, docker_style_entry("rita", refresh_token_by_post(stack, "rita"))
    )
    since = stack.log_position()

    pushed = client.copy(oci_image.ref, stack.registry.docker_ref("rita/app", "1"))
    assert pushed.returncode == 0, pushed.stderr
    pulled = client.copy(stack.registry.docker_ref("rita/app", "1"), f"oci:{tmp_path / 'r'}:1")
    assert pulled.returncode == 0, pulled.stderr
    assert pod.pull(stack.registry.ref("rita/app", "1")).returncode == 0
    assert (
        pod.tag(stack.registry.ref("rita/app", "1"), stack.registry.ref("rita/app", "2")).returncode
        == 0
    )
    podman_push = pod.push(stack.registry.ref("rita/app", "2"))
    assert podman_push.returncode == 0, podman_push.stderr

    # no password anywhere: not in the auth files, not on any command line
    for tool in (client, pod):
        assert PASSWORDS["rita"] not in tool.authfile.read_text()
        assert all(PASSWORDS["rita"] not in " ".join(map(str, r.args)) for r in tool.history)
    # every token these commands got was a refresh-token grant, from both tools
    events = _wait_for_events(stack, since, lambda e: "rita/app" in str(e.get("scopes")), 4)
    assert {(e["grant_type"], e["status"], e["account"]) for e in events} == {
        ("refresh_token", 200, "rita")
    }
    assert {e["client_id"] for e in events} == {"containers/image"}
    agents = {e["user_agent"].split("/")[0] for e in events}
    assert agents == {"skopeo", "containers"}  # podman says containers/5.x
    assert all(e["credential"] == "refresh_token" for e in events)
    granted = {tuple(sorted(d["granted"])) for e in events for d in e["decisions"]}
    assert ("pull", "push") in granted

    # disabling the user revokes the refresh tokens: the next pull fails, for both tools
    stack.cli("user", "disable", "rita")
    since = stack.log_position()
    refused = client.copy(stack.registry.docker_ref("rita/app", "1"), f"oci:{tmp_path / 'x'}:1")
    assert refused.returncode != 0
    pod_refused = pod.pull(stack.registry.ref("rita/app", "1"))
    assert pod_refused.returncode != 0
    # regauth answers the refresh grant 400 invalid_grant (the OAuth2 answer); containers/image
    # shows only the status, not the error body
    for result in (refused, pod_refused):
        assert "invalid status code from registry 400" in result.stderr, result.stderr
    events = _wait_for_events(stack, since, lambda e: "rita/app" in str(e.get("scopes")), 2)
    assert {(e["grant_type"], e["status"]) for e in events} == {("refresh_token", 400)}
    assert {e["reason"] for e in events} <= {"refresh token revoked", "user is disabled"}


def _wait_for_events(
    stack: AccountsStack, since: int, keep: Callable[[dict[str, Any]], bool], at_least: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        events = [e for e in stack.token_events(since) if keep(e)]
        if len(events) >= at_least or time.monotonic() > deadline:
            assert len(events) >= at_least, events
            return events
        time.sleep(0.05)


def test_tokens_for_database_accounts_carry_their_grants(stack: AccountsStack) -> None:
    """The token endpoint itself, for the record: what each account was given above."""
    cases = [
        (("robot+ci", stack.secrets["robot"]), "repository:ci/app:pull,push", ["pull", "push"]),
        (("robot+ci", stack.secrets["robot"]), "repository:other/app:pull,push", []),
        (("alice", stack.secrets["ro"]), "repository:alice/app:pull,push", ["pull"]),
        (("alice", stack.secrets["team"]), "repository:alice/app:pull", []),
        (("alice", PASSWORDS["alice"]), "repository:team/app:pull,push", ["pull", "push"]),
    ]
    for (username, password), scope, expected in cases:
        response = httpx.get(
            stack.realm,
            params={"service": "registry", "scope": scope, "account": username},
            auth=(username, password),
        )
        assert response.status_code == 200, response.text
        _, claims = decode_jwt_unverified(response.json()["token"])
        assert sorted(claims["access"][0]["actions"]) == expected, (username, scope)
