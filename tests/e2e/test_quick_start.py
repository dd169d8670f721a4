"""The README's quick start, run as written: its registry ``config.yml`` and its commands
(a test image made with buildah, skopeo login and push, podman pull) against a real
``regauth serve`` and Debian's ``docker-registry``. Only ports, folders and the way the
password is typed differ."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.e2e.peers import Podman, require_binaries
from tests.regauth_process import RegauthServer, free_port

README = Path(__file__).parent.parent.parent / "README.md"


def _quick_start_blocks() -> tuple[str, list[str]]:
    """The registry's config.yml and the command lines (comments dropped) of the quick start."""
    text = README.read_text()
    section = text[
        text.index("## Quick start") : text.index("\n## ", text.index("## Quick start") + 5)
    ]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    config = next(body for kind, body in blocks if kind == "yaml" and "version: 0.1" in body)
    commands = next(
        body for kind, body in blocks if kind == "sh" and "docker-registry serve" in body
    )
    lines = [line.split("  #")[0].strip() for line in commands.splitlines()]
    return config, [line for line in lines if line]


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the registry did not start:\n{log.read_text()}")


def test_the_quick_start_works_as_written(tmp_path: Path, podman: Callable[..., Podman]) -> None:
    require_binaries("docker-registry", "buildah", "skopeo", "podman")
    config, commands = _quick_start_blocks()
    assert commands[0] == "docker-registry serve config.yml &"
    registry_port = free_port()
    with RegauthServer(tmp_path) as regauth:
        regauth.wait_ready()
        password = regauth.admin_password()

        def adapt(text: str) -> str:
            return (
                text.replace("http://127.0.0.1:5001", regauth.url)
                .replace("127.0.0.1:5000", f"127.0.0.1:{registry_port}")
                .replace("/home/you/regauth-data", str(regauth.data_dir))
                .replace("/var/lib/docker-registry", str(tmp_path / "storage"))
            )

        (tmp_path / "config.yml").write_text(adapt(config))
        client = podman(tls_verify=False)  # isolated storage, auth file and policy for all three
        log = tmp_path / "registry.log"
        with log.open("wb") as out:
            registry = subprocess.Popen(
                shlex.split(commands[0].removesuffix("&")), cwd=tmp_path, stdout=out, stderr=out
            )
        try:
            _wait_for(f"http://127.0.0.1:{registry_port}/v2/", registry, log)
            for documented in commands[1:]:
                line, stdin = adapt(documented), None
                if line.startswith("skopeo login"):
                    line += " --password-stdin"  # the README's prompts for it
                    stdin = password + "\n"
                done = subprocess.run(
                    ["bash", "-c", line],
                    cwd=tmp_path,
                    env=client.env,
                    input=stdin,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        finally:
            registry.terminate()
            registry.wait(10)
    assert (tmp_path / "app" / "index.json").exists()
    pushed = tmp_path / "storage" / "docker" / "registry" / "v2" / "repositories" / "admin" / "app"
    assert pushed.is_dir()
