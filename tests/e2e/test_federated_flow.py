"""Keyless CI end to end: a ``regauth serve`` process, the real docker-registry 2.8 and skopeo.

A federated robot made with ``regauth robot create ci --federated ISSUER --claim ...`` trusts
a CI issuer (:class:`tests.ci_issuer.CiIssuer`, a real HTTP issuer on 127.0.0.1); skopeo pushes
with ``robot+ci`` and the issuer's ID token as the password, as a GitHub Actions job does after
``docker login -u robot+ci --password "$ID_TOKEN"``. Wrong audience, wrong claim, another
issuer's key and the token replayed after its expiry are refused, with the reason in regauth's
log and ``regauth audit``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from peers import OciImage, Registry, Skopeo, registry_auth_from_yaml
from tests.ci_issuer import CiIssuer, github_claims, new_key
from tests.regauth_process import RegauthServer, free_port, run_regauth

SkopeoFactory = Callable[..., Skopeo]


@dataclass
class Stack:
    regauth: RegauthServer
    registry: Registry
    issuer: CiIssuer
    audience: str
    state: list[str]

    def reasons(self) -> list[str]:
        events = [
            json.loads(line) for line in self.regauth.output().splitlines() if line.startswith("{")
        ]
        return [e.get("reason") or "" for e in events if e.get("event") == "token"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("federated")
    port = free_port()
    audience = f"http://127.0.0.1:{port}"
    config = workdir / "regauth.yaml"
    config.write_text(yaml.safe_dump({"server": {"public_url": audience}}))
    (workdir / "data").mkdir(mode=0o700)  # as `regauth serve` makes it
    state = ["--config", str(config), "--data-dir", str(workdir / "data")]
    with CiIssuer() as issuer:
        made = run_regauth(
            "robot", "create", "ci", "--federated", issuer.issuer,
            "--claim", "repository=acme/api", "--claim", "ref=refs/heads/main",
            "--grant", "acme/*=push", *state, cwd=workdir, check=True,
        )  # fmt: skip
        assert "no stored secret" in made.stdout and "password:" in made.stdout
        trust = subprocess.run(
            [sys.executable, "-m", "regauth", "registry-config", "--out", str(workdir / "trust"), *state],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        regauth = RegauthServer(workdir, config=config, data_dir=workdir / "data", port=port)
        registry = None
        try:
            regauth.wait_ready()
            registry = Registry(workdir / "registry", auth=registry_auth_from_yaml(trust)).start()
            yield Stack(regauth, registry, issuer, audience, state)
        finally:
            if registry is not None:
                registry.stop()
            regauth.stop()


def test_a_ci_token_pushes_and_refusals_are_logged(
    stack: Stack, skopeo: SkopeoFactory, oci_image: OciImage, tmp_path: Path
) -> None:
    client = skopeo(tls_verify=False)
    claims = github_claims()
    token = stack.issuer.mint(stack.audience, claims)
    pushed = client.copy(
        oci_image.ref,
        stack.registry.docker_ref("acme/api", "1"),
        "--dest-creds",
        f"robot+ci:{token}",
    )
    assert pushed.returncode == 0, pushed.stderr
    # docker login -u robot+ci --password "$ID_TOKEN", then pull
    assert client.login(stack.registry.host, "robot+ci", token).returncode == 0
    pulled = client.copy(stack.registry.docker_ref("acme/api", "1"), f"oci:{tmp_path / 'out'}:1")
    assert pulled.returncode == 0, pulled.stderr
    assert client.logout(stack.registry.host).returncode == 0

    refusals = [
        (stack.issuer.mint("https://sts.amazonaws.com"), "wrong audience"),
        (
            stack.issuer.mint(stack.audience, github_claims(ref="refs/heads/dev")),
            "claim mismatch: ref",
        ),
        (stack.issuer.mint(stack.audience, key=new_key("ES256")), "unknown signing key"),
        (stack.issuer.mint(stack.audience, lifetime=-1), "expired"),
    ]
    for bad, _ in refusals:
        refused = client.login(stack.registry.host, "robot+ci", bad)
        assert refused.returncode != 0
        assert "invalid username/password" in refused.stderr or "401" in refused.stderr
    reasons = stack.reasons()
    for _, reason in refusals:
        assert any(reason in logged for logged in reasons), (reason, reasons)
    log = stack.regauth.output()
    assert token not in log
    assert all(bad not in log for bad, _ in refusals)

    # the audit trail names the run that pushed
    # (the audit rows are written in batches, within a second or so)
    deadline = time.monotonic() + 10
    while True:
        audit = run_regauth("audit", "--account", "robot+ci", "--json", *stack.state, cwd=tmp_path)
        if "wrong audience" in audit.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert f"run_id={claims['run_id']}" in audit.stdout, audit.stdout[-2000:]
    assert "wrong audience" in audit.stdout


def test_an_id_token_replayed_after_its_expiry_is_refused(
    stack: Stack, skopeo: SkopeoFactory, oci_image: OciImage
) -> None:
    client = skopeo(tls_verify=False)
    token = stack.issuer.mint(stack.audience, lifetime=3)
    creds = f"robot+ci:{token}"
    pushed = client.copy(
        oci_image.ref, stack.registry.docker_ref("acme/api", "2"), "--dest-creds", creds
    )
    assert pushed.returncode == 0, pushed.stderr
    time.sleep(3.2)
    replayed = client.copy(
        oci_image.ref, stack.registry.docker_ref("acme/api", "3"), "--dest-creds", creds
    )
    assert replayed.returncode != 0
    assert "expired" in stack.reasons()[-1]
