"""A throwaway PostgreSQL 15 cluster for tests (see shared/docs/test-peers.md).

initdb and postgres refuse to run as root, so as root they run as the ``postgres`` user via
``setpriv``; the cluster lives in a temporary folder and is stopped with SIGINT.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        self.root = Path(tempfile.mkdtemp(prefix="regauth-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        self.log = (self.root / "postgres.log").open("wb")
        self._launch()

    def _launch(self) -> None:
        self.process = subprocess.Popen(
            [
                *self._prefix(),
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd="/",
        )
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    "PostgreSQL did not start: " + (self.root / "postgres.log").read_text()[-2000:]
                )
            time.sleep(0.1)

    def halt(self) -> None:
        """Stop the server (fast shutdown), keeping its data: a database outage."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(20)

    def resume(self) -> None:
        """Start the halted server again, on the same port with the same data."""
        if self.process.poll() is not None:
            self._launch()

    def _prefix(self) -> list[str]:
        if self._as_postgres:
            return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        return []

    def _run(self, command: list[str]) -> None:
        subprocess.run(self._prefix() + command, check=True, capture_output=True, cwd="/")

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "regauth_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)
