"""Debian's nginx as a throwaway front door for tests (see shared/docs/test-peers.md).

:class:`Nginx` writes a configuration into its own folder (pid file, temp paths, logs) and runs
``nginx -c CONF -p DIR -g 'daemon off;'`` on a free 127.0.0.1 port; stopped with SIGTERM.
The caller gives the ``http {}`` body's ``upstream`` and ``server`` blocks; ``{port}`` in
them is the chosen port.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Nginx", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    def __init__(self, root: Path, http_body: str, *, port: int | None = None) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx not found: apt-get install -y nginx")
        self.binary = binary
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.body = http_body.replace("{port}", str(self.port))
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        temp = self.root / "temp"
        paths = "\n".join(
            f"    {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""
pid {self.root / "nginx.pid"};
error_log {self.root / "error.log"} warn;
worker_processes 1;
events {{ worker_connections 512; }}
http {{
    access_log {self.root / "access.log"};
{paths}
{self.body}
}}
"""

    def start(self, timeout: float = 10.0) -> Nginx:
        (self.root / "temp").mkdir(parents=True, exist_ok=True)
        config = self.root / "nginx.conf"
        config.write_text(self._config())
        log = (self.root / "stderr.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config), "-p", str(self.root), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.log_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start:\n" + self.log_text())

    def log_text(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
