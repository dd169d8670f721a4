"""``docker-credential-regauth`` end to end: podman, skopeo and buildah configured with
``credHelpers`` (their ``--authfile`` is a file the test writes) push and pull through the real
registry behind one nginx address with no password on disk. The device sign-in is approved by
a person signed in to the console with a password; revoking the machine's session from the CLI
makes the next pull fail with the helper's one line; an expired short credential is renewed
without a prompt. Docker's side of the protocol is spoken by the test itself (docker is not
installed here): ``get`` / ``list`` / ``erase`` / ``store`` on stdin and stdout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from one_origin import OneOrigin
from peers import OciImage, Podman, Skopeo

HELPER = str(Path(sys.executable).with_name("docker-credential-regauth"))
PASSWORD = "alice-password-1"
CODE = re.compile(r"enter the code ([A-Z]{4}-[A-Z]{4})")


def helper_env(home: Path, helper_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "DOCKER_"))}
    env.update(
        HOME=str(home),
        REGAUTH_HELPER_DIR=str(helper_dir),
        REGAUTH_HELPER_KEYRING="off",  # no keyring daemon here: the 0600 file
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
    )
    env.pop("DISPLAY", None)
    return env


def approve_in_console(stack: OneOrigin, username: str, password: str, code: str) -> None:
    with httpx.Client(base_url=stack.url, timeout=20) as browser:
        page = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        signed = browser.post(
            "/login", data={"csrf": csrf.group(1), "username": username, "password": password}
        )
        assert signed.status_code == 303, signed.text
        page = browser.get(f"/device?user_code={code}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        confirm = browser.post("/device", data={"csrf": csrf.group(1), "user_code": code})
        assert confirm.status_code == 200, confirm.text
        done = browser.post("/device/approve", data={"csrf": csrf.group(1), "user_code": code})
        assert done.status_code == 200 and "signed in as" in done.text, done.text


def helper_login(stack: OneOrigin, env: dict[str, str], docker_config: Path, authfile: Path) -> str:
    """Run ``login`` as a person would, approve the code it prints; its whole output."""
    process = subprocess.Popen(
        [HELPER, "login", f"http://{stack.host}", "--no-browser",
         "--docker-config", str(docker_config), "--authfile", str(authfile)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    code = None
    deadline = time.monotonic() + 30
    while code is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        printed.append(line)
        found = CODE.search(line)
        if found:
            code = found.group(1)
    assert code is not None, "".join(printed) + (process.stderr.read() if process.stderr else "")
    threading.Thread(target=approve_in_console, args=(stack, "alice", PASSWORD, code)).start()
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    return "".join(printed) + rest


def speak(env: dict[str, str], command: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Docker's side of the credential helper protocol."""
    return subprocess.run(
        [HELPER, command], input=stdin, capture_output=True, text=True, env=env, timeout=30,
        check=False,
    )  # fmt: skip


def test_push_and_pull_with_no_password_on_disk(
    tmp_path: Path,
    oci_image: OciImage,
    skopeo: Callable[..., Skopeo],
    podman: Callable[..., Podman],
) -> None:
    with OneOrigin(tmp_path / "stack") as stack:
        stack.cli("user", "add", "alice", input=f"{PASSWORD}\n")
        home, helper_dir = tmp_path / "home", tmp_path / "helper"
        home.mkdir()
        env = helper_env(home, helper_dir)
        docker_config = home / ".docker" / "config.json"
        authfile = tmp_path / "auth.json"
        printed = helper_login(stack, env, docker_config, authfile)
        assert f"Signed in to {stack.host} as alice" in printed
        assert json.loads(docker_config.read_text())["credHelpers"] == {stack.host: "regauth"}
        assert json.loads(authfile.read_text())["credHelpers"] == {stack.host: "regauth"}
        sessions = (helper_dir / "sessions.json").stat().st_mode & 0o777
        assert sessions == 0o600

        # docker's side of the protocol
        got = speak(env, "get", f"https://{stack.host}\n")
        assert got.returncode == 0, got.stderr
        credential = json.loads(got.stdout)
        assert credential["Username"] == "alice"
        assert credential["Secret"].startswith("regauth_pat_")
        assert json.loads(speak(env, "list", "").stdout) == {stack.host: "alice"}
        unknown = speak(env, "get", "other.example.com\n")
        assert unknown.returncode == 1
        assert unknown.stderr.strip() == "credentials not found in native keychain"
        refused = speak(env, "store", json.dumps({"ServerURL": stack.host, "Username": "alice",
                                                   "Secret": PASSWORD}))  # fmt: skip
        assert refused.returncode == 1 and "keeps no passwords" in refused.stderr

        # the clients, with credHelpers only
        extra = {k: env[k] for k in ("REGAUTH_HELPER_DIR", "REGAUTH_HELPER_KEYRING", "PATH")}
        clients: list[Skopeo | Podman] = [skopeo(tls_verify=False, extra_env=extra),
                                          podman(tls_verify=False, extra_env=extra)]  # fmt: skip
        for client in clients:
            client.authfile.write_text(json.dumps({"credHelpers": {stack.host: "regauth"}}))
        pusher, puller = clients
        assert isinstance(pusher, Skopeo) and isinstance(puller, Podman)
        pushed = pusher.copy(oci_image.ref, stack.ref("alice/app", "1"))
        assert pushed.returncode == 0, pushed.stderr
        pulled = puller.pull(f"{stack.host}/alice/app:1")
        assert pulled.returncode == 0, pulled.stderr
        retagged = puller.push(f"{stack.host}/alice/app:1", f"docker://{stack.host}/alice/app:2")
        assert retagged.returncode == 0, retagged.stderr
        buildah = subprocess.run(
            ["buildah", f"--root={puller.workdir / 'buildah-storage'}",
             f"--runroot={puller.workdir / 'buildah-run'}", "--storage-driver=vfs",
             "pull", f"--authfile={puller.authfile}", "--tls-verify=false",
             f"{stack.host}/alice/app:2"],
            capture_output=True, text=True, env=puller.env, timeout=120, check=False,
        )  # fmt: skip
        assert buildah.returncode == 0, buildah.stderr

        # no password anywhere the helper or the clients wrote
        for folder in (helper_dir, home, pusher.workdir, puller.workdir):
            for path in folder.rglob("*.json"):
                assert PASSWORD not in path.read_text(errors="replace"), path

        # an expired short credential is renewed without a prompt
        cache_path = helper_dir / "cache.json"
        cache = json.loads(cache_path.read_text())
        old_secret = cache[stack.host]["secret"]
        cache[stack.host]["expires"] = time.time() - 5
        cache_path.write_text(json.dumps(cache))
        again = pusher.inspect(stack.ref("alice/app", "1"))
        assert again.returncode == 0, again.stderr
        assert json.loads(cache_path.read_text())[stack.host]["secret"] != old_secret

        # ended from the CLI: the next pull fails with the helper's one line
        assert "ended" in stack.cli("session", "end", "--user", "alice")
        denied = puller.pull(f"{stack.host}/alice/app:1")
        assert denied.returncode != 0
        assert "docker-credential-regauth login" in denied.stderr, denied.stderr
        lost = speak(env, "get", stack.host)
        assert lost.returncode == 1
        assert lost.stderr.strip() == (
            f"the regauth sign-in for {stack.host} has ended: run `docker-credential-regauth "
            f"login {stack.host}` again"
        )
        # logout forgets the machine's records and the credHelpers entries
        out = subprocess.run(
            [HELPER, "logout", stack.host, "--docker-config", str(docker_config),
             "--authfile", str(authfile)],
            capture_output=True, text=True, env=env, timeout=30, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(docker_config.read_text())["credHelpers"] == {}
        assert json.loads(speak(env, "list", "").stdout) == {}
