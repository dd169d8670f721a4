"""The container setup: the Dockerfile, its entrypoint run as a real process (as an
unprivileged user, through ``setpriv``), and the compose project ``registry-config --format
compose`` writes, checked structurally. No container engine runs here: docker has no daemon on
this machine kind and the base image cannot be pulled (see the README's "Containers")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from regauth.cli import main
from regauth.deployment.kubernetes import RUN_AS
from tests.regauth_process import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "container-entrypoint.sh"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can enter (pytest's own tmp_path is root's, mode 700),
    holding a copy of the entrypoint."""
    folder = Path(tempfile.mkdtemp(prefix="regauth-entrypoint-"))
    folder.chmod(0o755)
    shutil.copy(ENTRYPOINT, folder / "entrypoint.sh")
    yield folder
    shutil.rmtree(folder)


def as_nobody(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


def test_root_owned_data_folder_is_refused_with_what_to_do(shared_dir: Path) -> None:
    data = shared_dir / "data"
    data.mkdir(mode=0o700)  # root's, as a host folder made by root would be
    result = as_nobody(
        "sh", str(shared_dir / "entrypoint.sh"), "echo", "STARTED", "--data-dir", str(data)
    )
    assert result.returncode == 2
    assert "STARTED" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"data folder {data} is not usable by uid {NOBODY}" in lines[0]
    assert "belongs to 0:0, mode 700" in lines[0]
    assert f"chown -R {NOBODY}:{NOBODY}" in lines[0]


def test_unwritable_database_is_refused(shared_dir: Path) -> None:
    data = shared_dir / "data"
    data.mkdir(mode=0o700)
    (data / "regauth.db").write_bytes(b"")
    os.chown(data, NOBODY, NOBODY)
    result = as_nobody(
        "sh", str(shared_dir / "entrypoint.sh"), "echo", "STARTED",
        env={"REGAUTH_DATA_DIR": str(data)},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{data}/regauth.db is not writable by uid {NOBODY}" in result.stderr


@pytest.mark.parametrize("form", ["--data-dir", "--data-dir=", "env"])
def test_usable_data_folder_runs_the_command(shared_dir: Path, form: str) -> None:
    data = shared_dir / "volume"
    data.mkdir(mode=0o700)
    os.chown(data, NOBODY, NOBODY)  # a named volume: the image's owner
    script = str(shared_dir / "entrypoint.sh")
    if form == "env":
        result = as_nobody("sh", script, "echo", "STARTED", env={"REGAUTH_DATA_DIR": str(data)})
    elif form == "--data-dir":
        result = as_nobody("sh", script, "echo", "STARTED", "--data-dir", str(data))
    else:
        result = as_nobody("sh", script, "echo", "STARTED", f"--data-dir={data}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("STARTED")
    assert result.stderr == ""


def test_missing_data_folder_is_created_private(shared_dir: Path) -> None:
    parent = shared_dir / "mnt"
    parent.mkdir()
    os.chown(parent, NOBODY, NOBODY)
    result = as_nobody(
        "sh", str(shared_dir / "entrypoint.sh"), "true", env={"REGAUTH_DATA_DIR": str(parent / "d")}
    )
    assert result.returncode == 0, result.stderr
    assert (parent / "d").stat().st_mode & 0o777 == 0o700


def test_entrypoint_writes_trust_files_then_serves(tmp_path: Path) -> None:
    """The compose project's regauth service: trust files into REGAUTH_TRUST_DIR, then
    ``regauth serve`` answering its health check."""
    port = free_port()
    data, trust = tmp_path / "data", tmp_path / "trust"
    trust.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        "REGAUTH_DATA_DIR": str(data),
        "REGAUTH_TRUST_DIR": str(trust),
    }
    process = subprocess.Popen(
        [
            "sh",
            str(ENTRYPOINT),
            "regauth",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()
            subprocess.run(["sleep", "0.05"], check=True)
        assert (trust / "bundle.pem").read_text() == (data / "bundle.pem").read_text()
        assert (trust / "jwks.json").exists()
    finally:
        process.terminate()
        process.communicate(timeout=15)


# -- Dockerfile and compose ------------------------------------------------------------------


def test_dockerfile_user_and_folders() -> None:
    assert re.search(rf"^USER {RUN_AS}:{RUN_AS}$", DOCKERFILE, re.M)
    assert f"--uid {RUN_AS}" in DOCKERFILE and f"--gid {RUN_AS}" in DOCKERFILE
    for folder in ("/var/lib/regauth", "/var/lib/regauth-trust"):
        assert re.search(rf"install -d -o regauth -g regauth -m 07[05]{{2}} {folder}\b", DOCKERFILE)
    assert 'VOLUME ["/var/lib/regauth"]' in DOCKERFILE
    assert "COPY deploy/container-entrypoint.sh /usr/local/bin/regauth-entrypoint" in DOCKERFILE
    assert 'ENTRYPOINT ["regauth-entrypoint"]' in DOCKERFILE
    assert os.access(ENTRYPOINT, os.X_OK)  # COPY keeps the mode


#: the compose specification's keys this project uses, per level
SERVICE_KEYS = {
    "image", "build", "command", "environment", "ports", "volumes", "healthcheck", "restart",
    "depends_on",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period"}


def compose_project(tmp_path: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path / "compose"
    result = CliRunner().invoke(
        main,
        ["registry-config", "--data-dir", str(tmp_path / "d"), "--format", "compose",
         "--out", str(out), *args],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    compose = yaml.safe_load((out / "docker-compose.yaml").read_text())
    return compose, yaml.safe_load((out / "registry-config.yml").read_text())


def test_compose_project_builds_and_checks_regauth(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "regauth.yaml"
    config.parent.mkdir()
    config.write_text("server:\n  listen: 127.0.0.1:7101\n  path_prefix: /ra\n")
    compose, registry = compose_project(tmp_path, "--config", str(config))
    regauth = compose["services"]["regauth"]
    assert set(regauth) <= SERVICE_KEYS
    assert Path(regauth["build"]["context"]) == ROOT
    assert regauth["image"]
    assert regauth["command"] == ["regauth", "serve", "--listen", "0.0.0.0:7101"]
    assert regauth["ports"] == ["7101:7101"]
    health = regauth["healthcheck"]
    assert set(health) <= HEALTHCHECK_KEYS
    assert health["test"][0] == "CMD"
    assert "http://127.0.0.1:7101/ra/healthz" in health["test"][-1]
    environment = regauth["environment"]
    assert environment["REGAUTH_CONFIG"] == "/etc/regauth/regauth.yaml"
    mounts = dict(v.split(":", 1) for v in regauth["volumes"])
    assert mounts["regauth-data"] == environment["REGAUTH_DATA_DIR"] == "/var/lib/regauth"
    assert mounts["regauth-trust"] == environment["REGAUTH_TRUST_DIR"]
    assert mounts[str(config.parent)] == "/etc/regauth:ro"
    # the registry trusts what regauth puts in the shared volume, once regauth is healthy
    registry_service = compose["services"]["registry"]
    assert set(registry_service) <= SERVICE_KEYS
    assert "regauth-trust:/certs:ro" in registry_service["volumes"]
    assert registry_service["depends_on"] == {"regauth": {"condition": "service_healthy"}}
    assert registry["auth"]["token"]["rootcertbundle"] == "/certs/bundle.pem"
    named = {
        volume.split(":", 1)[0]
        for service in compose["services"].values()
        for volume in service["volumes"]
        if not volume.startswith(("/", "."))
    }
    assert named == set(compose["volumes"])


def test_compose_healthcheck_command_works(tmp_path: Path) -> None:
    """The health check's python line, run against a real regauth serve."""
    from tests.regauth_process import RegauthServer

    compose, _ = compose_project(tmp_path)
    code = compose["services"]["regauth"]["healthcheck"]["test"][-1]
    with RegauthServer(tmp_path) as server:
        code = code.replace("127.0.0.1:5001", server.host)
        assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, check=False).returncode
