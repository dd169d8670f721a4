"""Hot reload of a real ``regauth serve``: SIGHUP to the process (one worker) or to the
supervisor (two workers) applies a changed configuration in every worker, without one failed
request meanwhile; a configuration that does not validate is refused with one log line and
the old one keeps serving; ``server.watch_config`` notices a changed file by itself."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from tests.conftest import bcrypt_hash
from tests.regauth_process import RegauthServer


def _document(actions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
        "acl": [{"match": {"account": "alice"}, "actions": actions}],
        **extra,
    }


def _actions(server: RegauthServer) -> list[str]:
    with httpx.Client(timeout=10) as client:  # a new connection: any worker may answer
        response = client.get(
            f"{server.url}/auth",
            params={"scope": "repository:team/app:pull,push"},
            auth=("alice", "alice-pw"),
        )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return list(claims["access"][0]["actions"])


def _until(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _log_events(server: RegauthServer) -> list[dict[str, Any]]:
    events = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_every_worker_without_a_failed_request(tmp_path: Path, workers: int) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump(_document(["pull"])))
    with RegauthServer(tmp_path, config=config, workers=workers) as server:
        assert _actions(server) == ["pull"]
        failures: list[str] = []
        stop = threading.Event()
        answered = [0]

        def load() -> None:
            with httpx.Client(timeout=10) as client:
                while not stop.is_set():
                    response = client.get(f"{server.url}/auth", auth=("alice", "alice-pw"))
                    answered[0] += 1
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

        loop = threading.Thread(target=load)
        loop.start()
        try:
            for round_ in range(4):
                actions = ["pull"] if round_ % 2 else ["*"]
                config.write_text(yaml.safe_dump(_document(actions)))
                server.process.send_signal(signal.SIGHUP)
                expected = ["pull"] if round_ % 2 else ["pull", "push"]
                # every worker: ask on new connections until several in a row agree
                assert _until(lambda e=expected: all(_actions(server) == e for _ in range(6)))
        finally:
            stop.set()
            loop.join(30)
        assert not failures, failures[:5]
        assert answered[0] > 20
        # a configuration that does not validate: refused, named, the old one keeps serving
        config.write_text(yaml.safe_dump(_document(["*"], tokn={"issuer": "x"})))
        server.process.send_signal(signal.SIGHUP)
        assert _until(
            lambda: any("not reloaded" in e.get("event", "") for e in _log_events(server))
        )
        refused = [e for e in _log_events(server) if "not reloaded" in e.get("event", "")]
        assert len(refused) == 1  # one line, from the process that validates
        assert "tokn: unknown key" in refused[0]["problem"]
        assert _actions(server) == ["pull"]
        assert server.process.poll() is None


def test_a_watched_configuration_file_is_reloaded_by_itself(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump(_document(["pull"], server={"watch_config": True})))
    with RegauthServer(tmp_path, config=config, workers=2) as server:
        assert _actions(server) == ["pull"]
        time.sleep(1.1)  # a new modification time, whatever the file system's resolution
        config.write_text(yaml.safe_dump(_document(["*"], server={"watch_config": True})))
        assert _until(lambda: all(_actions(server) == ["pull", "push"] for _ in range(6)))
