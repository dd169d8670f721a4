"""Shared fixtures: build a runtime (config + data folder) and an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from regauth.config import parse_config
from regauth.datadir import DataDir
from regauth.runtime import Runtime, build_runtime
from regauth.store.database import Database
from regauth.web.app import create_app
from tests.postgres import PostgresCluster

# bcrypt at the lowest cost keeps unit tests fast; the hashes are real bcrypt all the same
_HASHES: dict[str, str] = {}


def bcrypt_hash(password: str, cost: int = 4) -> str:
    key = f"{password}/{cost}"
    if key not in _HASHES:
        _HASHES[key] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()
    return _HASHES[key]


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
    """Build runtimes on a fresh data folder; all are stopped (pools, sockets) at teardown."""
    built: list[Runtime] = []

    def factory(raw: dict[str, Any] | None = None, **environ: str) -> Runtime:
        config = parse_config(raw or {}, environ=environ)
        runtime = build_runtime(config, DataDir(tmp_path / "data"))
        built.append(runtime)
        return runtime

    yield factory
    for runtime in built:
        await runtime.stop()


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Runtime], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def factory(runtime: Runtime, client_address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(runtime), client=(client_address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://regauth.test")
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL 15 cluster for the session; each test takes a fresh database."""
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs against SQLite and against a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'regauth.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.ensure_schema(upgrade=False)
    yield db
    db.dispose()
