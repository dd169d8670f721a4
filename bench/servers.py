"""Start the servers a benchmark measures, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self,
        command: list[str],
        port: int,
        ready_path: str,
        workdir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = (workdir / f"server-{port}.log").open("wb")
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("REGAUTH_", "REGISTRY_"))
        }
        full_env.update(env or {})
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir, env=full_env
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: see {self.log.name}")
            try:
                if httpx.get(self.url + ready_path, timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not start")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn workers)."""
        found = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            found += [int(p) for p in children.read_text().split()]
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def start_regauth(
    workdir: Path, config: Path, workers: int, data_dir: Path | None = None
) -> Server:
    port = free_port()
    return Server(
        [
            sys.executable,
            "-m",
            "regauth",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir or workdir / "data"),
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        port,
        "/healthz",
        workdir,
        env={"PYTHONPATH": str(ROOT / "src")},
    )


def start_floor(workdir: Path, workers: int, *, paired_writes: bool = False) -> Server:
    """The floor handler on stock uvicorn, or (``paired_writes``) on regauth's protocol."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.floor_server",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if paired_writes:
        command.append("--paired-writes")
    return Server(
        command,
        port,
        "/",
        workdir,
        env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])},
    )


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
