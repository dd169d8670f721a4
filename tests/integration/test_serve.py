"""``regauth serve`` as a real process: zero-config start, TLS, signals, workers, reloads."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import jwt
import yaml

from tests.e2e.peers import make_test_ca
from tests.regauth_process import RegauthServer, free_port, run_regauth


def test_zero_config_start(tmp_path: Path) -> None:
    with RegauthServer(tmp_path) as server:
        output = server.output()
        password = server.admin_password()
        assert len(password) >= 20
        assert "rootcertbundle:" in output
        data = tmp_path / "regauth-data"
        assert (data / "bundle.pem").exists()
        assert (data / "jwks.json").exists()
        # the signing key lives in the database, which only its owner may read
        assert not (data / "token-signing.key").exists()
        assert (data / "regauth.db").stat().st_mode & 0o077 == 0
        with sqlite3.connect(data / "regauth.db") as database:
            keys = database.execute("SELECT id, state FROM signing_keys").fetchall()
        assert len(keys) == 1 and keys[0][1] == "active"
        with sqlite3.connect(data / "regauth.db") as database:
            stored = database.execute(
                "SELECT password_hash, is_admin FROM users WHERE username = 'admin'"
            ).fetchone()
        assert stored[0].startswith("$argon2id$")
        assert password not in stored[0]
        assert stored[1] == 1
        with server.client() as client:
            ok = client.get(
                "/auth",
                params={"service": "registry", "scope": "registry:catalog:*"},
                auth=("admin", password),
            )
            assert ok.status_code == 200
            claims = jwt.decode(ok.json()["token"], options={"verify_signature": False})
            assert claims["access"][0]["actions"] == ["*"]
            assert client.get("/auth", auth=("admin", "wrong")).status_code == 401
        # the token log line is JSON on stdout and does not contain the password after the banner
        log_lines = [line for line in server.output().splitlines() if line.startswith("{")]
        assert any('"event":"token"' in line for line in log_lines)
        assert all(password not in line for line in log_lines)
    # the second start reuses the key and does not print a password again
    bundle = (data / "bundle.pem").read_bytes()
    with RegauthServer(tmp_path, port=free_port()) as again:
        assert "password:" not in again.output()
        with again.client() as client:
            jwks = client.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [
        jwt.get_unverified_header(ok.json()["token"])["kid"]
    ]
    assert (data / "bundle.pem").read_bytes() == bundle


def test_data_dir_from_environment(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    port = free_port()
    process = subprocess.run(
        [sys.executable, "-m", "regauth", "registry-config", "--format", "env"],
        env={"REGAUTH_DATA_DIR": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    assert f"REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE={target}/bundle.pem" in process.stdout
    assert port


def test_sigterm_and_sigint_shut_down_cleanly(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = RegauthServer(tmp_path, port=free_port()).wait_ready()
        started = time.monotonic()
        assert server.stop(sig) == 0
        assert time.monotonic() - started < 10
        assert "Traceback" not in server.errors()


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("acl:\n  - match: {account: admin, team: x}\n    actions: ['*']\n")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "regauth",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert process.returncode == 2
    assert process.stderr.strip() == "regauth: config error: acl[0].match.team: unknown key"


def test_tls_and_chunked_oauth2_post(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "ca")
    config = tmp_path / "regauth.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"certificate": str(ca.server_cert), "key": str(ca.server_key)},
                "users": {"alice": {"password": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()}},
                "acl": [{"match": {"account": "alice"}, "actions": ["*"]}],
            }
        )
    )
    with RegauthServer(tmp_path, config=config, scheme="https", ca_file=ca.ca_cert) as server:
        assert "https://" in server.output()

        def chunks() -> Iterator[bytes]:
            yield b"grant_type=password&username=alice"
            yield b"&password=pw&client_id=containers%2Fimage"
            yield b"&service=registry&scope=repository%3Aa%3Apull"

        with server.client() as client:
            response = client.post(
                "/auth",
                content=chunks(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200, response.text
            assert "refresh_token" not in response.json()
            # request limits over TLS too: the answer arrives whole (no half-close there)
            refused = client.get("/auth", headers={"x-big": "v" * 100_000})
            assert refused.status_code == 431
            assert refused.text.endswith("(server.max_header_size)\n")
        with (
            httpx.Client(verify=False) as insecure,
            __import__("pytest").raises(httpx.TransportError),
        ):
            insecure.get(f"http://{server.host}/healthz")


def test_several_workers(tmp_path: Path) -> None:
    with RegauthServer(tmp_path, workers=2) as server:
        password = server.admin_password()
        with server.client() as client:
            for _ in range(20):
                assert client.get("/auth", auth=("admin", password)).status_code == 200
        assert server.stop() == 0


def test_htpasswd_is_reread_when_it_changes(tmp_path: Path) -> None:
    htpasswd = tmp_path / "users.htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"one", bcrypt.gensalt(4)).decode() + "\n")
    config = tmp_path / "regauth.yaml"
    config.write_text("htpasswd: users.htpasswd\nacl: [{match: {}, actions: [pull]}]\n")
    with RegauthServer(tmp_path, config=config) as server, server.client() as client:
        assert client.get("/auth", auth=("alice", "one")).status_code == 200
        assert client.get("/auth", auth=("bob", "two")).status_code == 401
        with htpasswd.open("a") as handle:
            handle.write("bob:" + bcrypt.hashpw(b"two", bcrypt.gensalt(4)).decode() + "\n")
            handle.write("carol:$apr1$legacy$hash\n")
        deadline = time.monotonic() + 5
        while client.get("/auth", auth=("bob", "two")).status_code != 200:
            assert time.monotonic() < deadline, "htpasswd change not picked up"
            time.sleep(0.2)
        assert client.get("/auth", auth=("carol", "x")).status_code == 401
    assert "only bcrypt hashes are supported" in server.output()


def _cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_regauth(*args, cwd=cwd, input=stdin, check=True)


def test_admin_commands_beside_the_server_take_effect_on_the_next_request(
    tmp_path: Path,
) -> None:
    """A cached login must not outlive a password change or a grant removal made with the CLI
    on the same machine: the server notices the change signal before trusting its cache, so
    the very next request sees the change (no waiting for the periodic poll)."""
    data = tmp_path / "regauth-data"
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump({"database": {"sync_interval": 30}}))  # no poll in time
    state = ["--config", str(config), "--data-dir", str(data)]
    with RegauthServer(tmp_path, config=config, data_dir=data, workers=2) as server:
        _cli("user", "add", "alice", *state, cwd=tmp_path, stdin="old-password\n")
        added = _cli(
            "grant",
            "add",
            "--user",
            "alice",
            "--pattern",
            "team/*",
            "--role",
            "push",
            "--json",
            *state,
            cwd=tmp_path,
        )
        grant_id = str(json.loads(added.stdout)["id"])
        scope = {"service": "registry", "scope": "repository:team/app:pull,push"}

        def granted(client: httpx.Client, password: str) -> list[str] | int:
            answer = client.get("/auth", params=scope, auth=("alice", password))
            if answer.status_code != 200:
                return answer.status_code
            claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
            return claims["access"][0]["actions"]

        with server.client() as client:
            # every worker has the login cached (keep-alive off: connections spread)
            for _ in range(8):
                fresh = httpx.Client(base_url=server.url, headers={"connection": "close"})
                with fresh:
                    assert granted(fresh, "old-password") == ["pull", "push"]
            _cli("grant", "remove", grant_id, *state, cwd=tmp_path)
            assert granted(client, "old-password") == []
            _cli("user", "passwd", "alice", *state, cwd=tmp_path, stdin="new-password\n")
            assert granted(client, "old-password") == 401
            assert granted(client, "new-password") == []
