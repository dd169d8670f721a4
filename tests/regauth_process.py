"""Run ``regauth serve`` as a real process on a free loopback port, for tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx


def run_regauth(
    *args: str, cwd: Path, input: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m regauth ARGS`` in ``cwd``, without the caller's ``REGAUTH_*`` variables;
    with ``check``, fail the test (with regauth's stderr) unless it exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    result = subprocess.run(
        [sys.executable, "-m", "regauth", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"regauth {' '.join(args)}: {result.stderr}"
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RegauthServer:
    """``regauth serve`` with its stdout and stderr captured to files."""

    def __init__(
        self,
        workdir: Path,
        *,
        config: Path | None = None,
        data_dir: Path | None = None,
        workers: int = 1,
        scheme: str = "http",
        ca_file: Path | None = None,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{scheme}://{self.host}"
        self.data_dir = data_dir or workdir / "regauth-data"
        self.stdout_path = workdir / f"regauth-{self.port}.out"
        self.stderr_path = workdir / f"regauth-{self.port}.err"
        self.ca_file = ca_file
        command = [
            sys.executable,
            "-m",
            "regauth",
            "serve",
            "--listen",
            self.host,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(workers),
        ]
        if config is not None:
            command += ["--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
        env.update(extra_env or {})
        self._stdout = self.stdout_path.open("wb")
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=workdir, stdout=self._stdout, stderr=self._stderr, env=env
        )

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def errors(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def client(self, **kwargs: object) -> httpx.Client:
        verify: object = (
            ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
        )
        return httpx.Client(base_url=self.url, verify=verify, timeout=10, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = 20.0) -> RegauthServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"regauth exited with {self.process.returncode}:\n{self.output()}\n{self.errors()}"
                )
            try:
                with self.client() as client:
                    if client.get("/healthz").status_code == 200:
                        return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"regauth did not become ready:\n{self.output()}\n{self.errors()}")

    def admin_password(self) -> str:
        for line in self.output().splitlines():
            if line.strip().startswith("password:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError("no admin password printed:\n" + self.output())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stdout.close()
        self._stderr.close()
        return self.process.returncode

    def __enter__(self) -> RegauthServer:
        return self.wait_ready()

    def __exit__(self, *_: object) -> None:
        self.stop()
