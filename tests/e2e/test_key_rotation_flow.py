"""Fault test: a signing key rotation while skopeo pulls in a loop, against the real registry.

A real ``regauth serve`` (two workers) and the real ``docker-registry`` 2.8, which reads its
``rootcertbundle`` (regauth's data folder ``bundle.pem``) only at start. A background thread
pulls ``alice/app:1`` with a fresh ``skopeo copy`` (so a fresh token) over and over while the
test rotates the key the way the README says:

    regauth keys add -> restart the registry -> regauth keys activate NEW
    -> regauth keys retire OLD -> (its tokens expire) -> restart the registry

The loop pauses only while the registry process itself is down (a single registry cannot answer
while it restarts: that is not what is tested here); everything else runs under load, and not
one pull may fail. A token signed by the old key just before the switch must stay accepted
until the old key leaves the bundle, and be refused after. Waiting out the token lifetime
(60 s at least, plus 60 s of leeway) would take two minutes, so the test moves the old key's
``deactivated_at`` two minutes back in the database instead; the time rule itself is tested with
a clock of the tests' own (tests/unit/test_keys.py, tests/integration/test_key_rotation.py).

Last, a negative control: activating a key the registry has not read makes pulls fail, so the
loop would have seen a wrong rotation.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from cryptography import x509
from peers import (
    OciImage,
    Registry,
    Skopeo,
    decode_jwt_unverified,
    registry_auth_from_yaml,
    request_token,
)
from tests.regauth_process import RegauthServer, run_regauth

PASSWORD = "alice-pw"
MIN_PULLS_PER_STEP = 3


@dataclass
class PullLoop:
    """skopeo pulls in a background thread; :meth:`paused` holds them off while the registry
    restarts."""

    client: Skopeo
    source: str
    workdir: Path
    results: list[tuple[float, bool, str]] = field(default_factory=list)
    gate: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="pull-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        count = 0
        while not self.stop.is_set():
            with self.gate:
                count += 1
                target = f"oci:{self.workdir / f'pull-{count}'}:1"
                started = time.monotonic()
                result = self.client.copy(self.source, target, f"--src-creds=alice:{PASSWORD}")
                detail = result.stderr.strip()[-300:]
                self.results.append((started, result.returncode == 0, detail))

    def paused(self) -> Any:
        return self.gate

    def wait_for_pulls(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` more pulls have finished."""
        target = len(self.results) + count
        deadline = time.monotonic() + timeout
        while len(self.results) < target:
            assert time.monotonic() < deadline, "the pull loop stalled"
            assert self.thread is not None and self.thread.is_alive()
            time.sleep(0.05)

    def finish(self) -> list[tuple[float, bool, str]]:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(60)
        return self.results


@dataclass
class Rotation:
    server: RegauthServer
    config: Path
    data_dir: Path
    registry: Registry
    #: what the registry logs for a token of a key not in its bundle
    untrusted: str

    def keys(self, command: str, *kid: str) -> Any:
        """``regauth keys COMMAND [KID] --json``; a thumbprint may start with ``-``: after
        ``--``."""
        result = run_regauth(
            "keys",
            command,
            "--json",
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            "--",
            *kid,
            cwd=self.data_dir.parent,
            check=True,
        )
        return json.loads(result.stdout)

    def bundle_certificates(self) -> int:
        return len(x509.load_pem_x509_certificates((self.data_dir / "bundle.pem").read_bytes()))

    def token(self) -> str:
        response = request_token(
            self.server.url + "/auth",
            service="registry",
            scopes=["repository:alice/app:pull"],
            username="alice",
            password=PASSWORD,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def manifest_status(self, token: str) -> int:
        response = httpx.get(
            f"{self.registry.url}/v2/alice/app/manifests/1",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.oci.image.manifest.v1+json",
            },
            trust_env=False,
        )
        return response.status_code


def kid(token: str) -> str:
    return str(decode_jwt_unverified(token)[0]["kid"])


#: how the registry finds the key: the certificate chain in the token (x5c, the default), or
#: the libtrust ID in ``kid`` looked up among the bundle's keys (``token.x5c: false``)
LOOKUPS = {
    "x5c": ({"x5c": True}, "certificate signed by unknown authority"),
    "kid": ({"x5c": False}, "token signed by untrusted key"),
}


@pytest.fixture(params=sorted(LOOKUPS))
def rotation(
    tmp_path: Path, registry_factory: Callable[..., Registry], request: pytest.FixtureRequest
) -> Any:
    workdir = tmp_path / "regauth"
    workdir.mkdir()
    data_dir = workdir / "data"
    config = workdir / "regauth.yaml"
    document = {
        "users": {
            "alice": {"password": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}
        },
        "acl": [{"match": {"account": "alice"}, "actions": ["*"]}],
        # the shortest lifetime allowed
        "token": {"expiration": 60, **LOOKUPS[request.param][0]},
    }
    config.write_text(yaml.safe_dump(document))
    server = RegauthServer(workdir, config=config, data_dir=data_dir, workers=2)
    try:
        server.wait_ready(timeout=60)
        document["server"] = {"public_url": server.url}
        config.write_text(yaml.safe_dump(document))
        printed = run_regauth(
            "registry-config",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            cwd=workdir,
            check=True,
        ).stdout
        auth = registry_auth_from_yaml(printed)
        # the registry reads the data folder's bundle, the very file `regauth keys` rewrites
        assert auth["token"]["rootcertbundle"] == str(data_dir / "bundle.pem")
        registry = registry_factory(auth=auth)
        yield Rotation(server, config, data_dir, registry, LOOKUPS[request.param][1])
    finally:
        server.stop()


def test_key_rotation_under_a_loop_of_pulls_fails_no_pull(
    rotation: Rotation, skopeo: Callable[..., Skopeo], oci_image: OciImage, tmp_path: Path
) -> None:
    started = time.monotonic()
    registry = rotation.registry
    pusher = skopeo(tls_verify=False)
    pushed = pusher.copy(
        oci_image.ref, registry.docker_ref("alice/app", "1"), f"--dest-creds=alice:{PASSWORD}"
    )
    assert pushed.returncode == 0, pushed.stderr
    pulls = tmp_path / "pulls"
    pulls.mkdir()
    loop = PullLoop(skopeo(tls_verify=False), registry.docker_ref("alice/app", "1"), pulls)
    loop.start()
    try:
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        (old,) = rotation.keys("list")

        # 1. a new key, published at once, not signing
        new = rotation.keys("add")
        assert rotation.bundle_certificates() == 2
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        assert kid(rotation.token()) == old["kid"]

        # 2. the registry reads the bundle with both keys
        with loop.paused():
            registry.restart()
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        held = rotation.token()  # signed by the old key: used again after the switch
        assert kid(held) == old["kid"]

        # 3. signing switches on every worker
        rotation.keys("activate", new["thumbprint"])
        assert {kid(rotation.token()) for _ in range(8)} == {new["kid"]}
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        assert rotation.manifest_status(held) == 200  # the old key's tokens still work

        # 4. the old key is retired: it stays published while its tokens may be valid, so a
        # registry restarted now still trusts them
        retired = rotation.keys("retire", old["thumbprint"])
        assert retired["published"] is True
        assert rotation.bundle_certificates() == 2
        with loop.paused():
            registry.restart()
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        assert rotation.manifest_status(held) == 200

        # 5. its last tokens have expired (moved back in time rather than waited for): the
        # next command leaves it out, and a registry restarted after trusts only the new key
        database = sqlite3.connect(rotation.data_dir / "regauth.db")
        try:
            with database:
                database.execute(
                    "UPDATE signing_keys SET deactivated_at = ?, retired_at = ? WHERE id = ?",
                    (
                        _sqlite_time(datetime.timedelta(minutes=-3)),
                        _sqlite_time(datetime.timedelta(minutes=-2)),
                        old["thumbprint"],
                    ),
                )
        finally:
            database.close()
        listed = {k["thumbprint"]: k for k in rotation.keys("list")}
        assert listed[old["thumbprint"]]["published"] is False
        assert rotation.bundle_certificates() == 1
        with loop.paused():
            registry.restart()
        loop.wait_for_pulls(MIN_PULLS_PER_STEP)
        held_claims = decode_jwt_unverified(held)[1]
        assert rotation.manifest_status(held) == 401  # untrusted key now
        held_still_unexpired = held_claims["exp"] > time.time()
    finally:
        results = loop.finish()

    failures = [(at - started, detail) for at, ok, detail in results if not ok]
    elapsed = time.monotonic() - started
    print(
        f"\nkey rotation under load: {len(results)} pulls, {len(failures)} failed, "
        f"{elapsed:.1f} s, 3 registry restarts; the held old-key token was "
        f"{'still unexpired' if held_still_unexpired else 'expired'} when refused"
    )
    assert not failures, failures
    assert len(results) >= 6 * MIN_PULLS_PER_STEP

    # negative control: a key activated before the registry read it breaks pulls at once
    unread = rotation.keys("add")
    rotation.keys("activate", unread["thumbprint"])
    control = skopeo(tls_verify=False).copy(
        registry.docker_ref("alice/app", "1"),
        f"oci:{tmp_path / 'control'}:1",
        f"--src-creds=alice:{PASSWORD}",
    )
    assert control.returncode != 0
    print("negative control:", control.stderr.strip()[-200:])
    assert "authentication required" in control.stderr
    assert rotation.untrusted in registry.log_text()


def _sqlite_time(offset: datetime.timedelta) -> str:
    """A time as regauth stores it in SQLite (UTC, no zone)."""
    moment = datetime.datetime.now(datetime.UTC) + offset
    return moment.replace(tzinfo=None).isoformat(sep=" ")
