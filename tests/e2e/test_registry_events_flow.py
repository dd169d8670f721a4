"""End to end: the real docker-registry 2.8 sends its notifications to a real ``regauth serve``,
configured only from what ``regauth registry-config`` printed; skopeo and podman push, pull and
delete as different users, and ``regauth events`` shows who did what.

A regauth that is down while the registry has events queued gets them once it is back (the
registry retries every event until it is accepted), each stored once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from peers import OciImage, Podman, Registry, Skopeo, free_port, request_token
from tests.regauth_process import RegauthServer

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
SECRET = "e2e-notification-secret-0123456789"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def regauth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regauth", *args], capture_output=True, text=True, check=False
    )


@dataclass
class Stack:
    workdir: Path
    config: Path
    data_dir: Path
    port: int
    regauth: RegauthServer
    registry: Registry

    def start_regauth(self) -> None:
        self.regauth = RegauthServer(
            self.workdir, config=self.config, data_dir=self.data_dir, port=self.port
        ).wait_ready()

    def events(self, *filters: str) -> list[dict[str, Any]]:
        state = ["--config", str(self.config), "--data-dir", str(self.data_dir)]
        result = regauth("events", "--json", "--limit", "1000", *filters, *state)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout))

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if check(events) or time.monotonic() > deadline:
                return events
            time.sleep(0.3)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("events")
    port = free_port()
    users = {
        name: {"password": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}
        for name, pw in PASSWORDS.items()
    }
    config = workdir / "regauth.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"public_url": f"http://127.0.0.1:{port}"},
                "users": users,
                "acl": [{"match": {"account": "/.+/"}, "actions": ["*"]}],
                "registry": {"notification_secret": SECRET},
            }
        )
    )
    data_dir = workdir / "data"
    printed = regauth(
        "registry-config", "--config", str(config), "--data-dir", str(data_dir),
        "--out", str(workdir / "trust"),
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    section = yaml.safe_load(printed.stdout)
    server = RegauthServer(workdir, config=config, data_dir=data_dir, port=port).wait_ready()
    registry = Registry(
        workdir / "registry",
        auth=section["auth"],
        extra_config={"notifications": section["notifications"]},
    ).start()
    built = Stack(workdir, config, data_dir, port, server, registry)
    yield built
    registry.stop()
    built.regauth.stop()


def test_pushes_pulls_and_deletes_show_up_with_actor_tag_and_digest(
    stack: Stack,
    skopeo: Callable[..., Skopeo],
    podman: Callable[..., Podman],
    oci_image: OciImage,
) -> None:
    registry = stack.registry
    alice = skopeo(tls_verify=False)
    assert alice.login(registry.host, "alice", PASSWORDS["alice"]).returncode == 0
    for tag in ("1", "gone"):
        pushed = alice.copy(oci_image.ref, registry.docker_ref("team/app", tag))
        assert pushed.returncode == 0, pushed.stderr
    bob = podman(tls_verify=False)
    assert bob.login(registry.host, "bob", PASSWORDS["bob"]).returncode == 0
    assert bob.pull(registry.ref("team/app", "1")).returncode == 0
    # podman recompresses on push: team/app:1 now names another manifest
    overwritten = bob.push(registry.ref("team/app", "1"))
    assert overwritten.returncode == 0, overwritten.stderr
    deleted = alice.delete(registry.docker_ref("team/app", "gone"))
    assert deleted.returncode == 0, deleted.stderr

    def complete(events: list[dict[str, Any]]) -> bool:
        seen = {(e["action"], e["actor"]) for e in events if e["tag"] or e["action"] == "delete"}
        return {("push", "alice"), ("pull", "bob"), ("push", "bob"), ("delete", "alice")} <= seen

    events = stack.wait_for(complete)
    assert complete(events), json.dumps(events, indent=1)
    tagged = [e for e in events if e["repository"] == "team/app" and e["tag"] == "1"]
    alice_push = next(e for e in tagged if (e["action"], e["actor"]) == ("push", "alice"))
    bob_pull = next(e for e in tagged if (e["action"], e["actor"]) == ("pull", "bob"))
    bob_push = next(e for e in tagged if (e["action"], e["actor"]) == ("push", "bob"))
    # an overwritten tag shows both digests
    assert alice_push["digest"] != bob_push["digest"]
    assert bob_pull["digest"] == alice_push["digest"]
    assert alice_push["user_agent"].startswith("skopeo")
    assert bob_push["user_agent"].startswith("podman") or "containers" in bob_push["user_agent"]
    assert alice_push["client_addr"].startswith("127.0.0.1")
    assert alice_push["media_type"] and alice_push["size"] > 0
    # 2.8.2 reports a manifest delete twice: the manifest (digest) and each tag it had
    deletes = [e for e in events if e["action"] == "delete"]
    pushed_gone = next(e for e in events if e["tag"] == "gone" and e["action"] == "push")
    assert sorted((e["actor"], e["tag"] or "", e["digest"] or "") for e in deletes) == [
        ("alice", "", pushed_gone["digest"]),
        ("alice", "gone", ""),
    ]
    # who pushed this digest: one command
    (answer,) = stack.events("--digest", bob_push["digest"], "--action", "push")
    assert answer["actor"] == "bob"
    # blobs were pushed and pulled too; only manifest pulls are kept (events.record_pulls)
    assert all(e["media_type"] and "manifest" in e["media_type"]
               for e in events if e["action"] == "pull")  # fmt: skip
    assert len({e["id"] for e in events}) == len(events)
    # the repository index: the tag's latest digest, its pusher
    listed = regauth(
        "repositories", "--json", "--config", str(stack.config), "--data-dir", str(stack.data_dir)
    )
    (repository,) = [r for r in json.loads(listed.stdout) if r["name"] == "team/app"]
    tags = {t["tag"]: t for t in repository["tags"]}
    assert set(tags) == {"1"}  # "gone" was deleted
    assert (tags["1"]["digest"], tags["1"]["pushed_by"]) == (bob_push["digest"], "bob")


def test_events_queued_while_regauth_is_down_arrive_once_it_is_back(
    stack: Stack, skopeo: Callable[..., Skopeo], oci_image: OciImage
) -> None:
    registry = stack.registry
    alice = skopeo(tls_verify=False)
    assert alice.login(registry.host, "alice", PASSWORDS["alice"]).returncode == 0
    assert alice.copy(oci_image.ref, registry.docker_ref("down/app", "1")).returncode == 0
    stack.wait_for(lambda events: any(e["repository"] == "down/app" for e in events))
    before = {e["id"] for e in stack.events("--repository", "down/app")}
    token = request_token(
        f"{stack.regauth.url}/auth",
        service="registry",
        scopes=["repository:down/app:pull"],
        username="alice",
        password=PASSWORDS["alice"],
    ).json()["token"]
    stack.regauth.stop()
    try:
        for _ in range(3):  # with a token from before: the registry needs no regauth for it
            response = httpx.get(
                f"{registry.url}/v2/down/app/manifests/1",
                headers={"authorization": f"Bearer {token}", "accept": MANIFEST_TYPES},
            )
            assert response.status_code == 200, response.text
        time.sleep(2)  # the registry tries, fails, and backs off
    finally:
        stack.start_regauth()

    def delivered(events: list[dict[str, Any]]) -> bool:
        pulls = [e for e in events if e["repository"] == "down/app" and e["action"] == "pull"]
        return len(pulls) >= 3

    events = stack.wait_for(delivered, timeout=30)
    new = [e for e in events if e["repository"] == "down/app" and e["id"] not in before]
    assert [(e["action"], e["actor"], e["tag"]) for e in new] == [("pull", "alice", "1")] * 3
    time.sleep(1.5)  # anything redelivered would have arrived by now
    after = stack.events("--repository", "down/app")
    assert len(after) == len({e["id"] for e in after}) == len(before) + 3
    assert "Bearer" not in stack.regauth.output() + stack.regauth.errors()
    assert SECRET not in stack.regauth.output() + stack.regauth.errors()
