"""Bounded requests against a real ``regauth serve``: oversized and slow requests are refused
or closed, the workers' memory stays flat under 64 MiB headers, and normal token requests
are answered all the while.

The main server runs two workers (the limits reach each worker process through uvicorn) with
short timeouts so the file stays quick; a second one, one worker, shows the limits follow the
configuration.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
import yaml

from tests.conftest import bcrypt_hash
from tests.regauth_process import RegauthServer

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
KEEPALIVE_TIMEOUT = 1.0
#: per worker, for all unfinished heads
PENDING_BUDGET = 4 * 1024 * 1024
#: a password whose Basic header is 6 KiB, like an identity provider's JWT access token
LONG_PASSWORD = "j" * 4600
TOKEN_QUERY = "/auth?service=registry&scope=repository:team/app:pull"


def _write_config(path: Path, server: dict[str, Any]) -> Path:
    cheap_argon2 = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    path.write_text(
        yaml.safe_dump(
            {
                "server": server,
                "users": {
                    "alice": {"password": cheap_argon2.hash(LONG_PASSWORD)},
                    "bob": {"password": bcrypt_hash("bob-pw")},
                },
                "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegauthServer, ...]]:
    """The main server and the one with small limits, started side by side."""
    workdir = tmp_path_factory.mktemp("limits")
    config = _write_config(
        workdir / "regauth.yaml",
        {
            "header_timeout": f"{HEADER_TIMEOUT:g}s",
            "body_timeout": f"{BODY_TIMEOUT:g}s",
            "keepalive_timeout": f"{KEEPALIVE_TIMEOUT:g}s",
            "max_pending_headers_size": PENDING_BUDGET,
        },
    )
    small_config = _write_config(
        workdir / "small.yaml",
        {"max_request_line": 512, "max_header_size": 1024, "max_headers": 10},
    )
    main = RegauthServer(workdir, config=config, workers=2)
    small = RegauthServer(workdir, config=small_config, data_dir=workdir / "small-data")
    try:
        yield main.wait_ready(60), small.wait_ready(60)
    finally:
        main.stop()
        small.stop()


@pytest.fixture(scope="module")
def server(servers: tuple[RegauthServer, ...]) -> RegauthServer:
    return servers[0]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _exchange(server: RegauthServer, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _docker_like(authorization: str, *extra: bytes) -> bytes:
    return (
        f"GET {TOKEN_QUERY} HTTP/1.1\r\n".encode()
        + b"Host: auth.example.com\r\n"
        + b"User-Agent: docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux "
        b"arch/amd64 UpstreamClient(Docker-Client/27.3.1 \\(linux\\))\r\n"
        + f"Authorization: {authorization}\r\n".encode()
        + b"Accept-Encoding: gzip\r\n"
        + b"".join(extra)
        + b"Connection: close\r\n\r\n"
    )


def test_oversized_heads_are_refused_and_normal_ones_served(server: RegauthServer) -> None:
    six_kib = _basic("alice", LONG_PASSWORD)
    assert 6000 < len(six_kib) < 6400
    answer = _exchange(server, _docker_like(six_kib))
    assert _status(answer) == 200 and b'"token"' in answer

    url = b"GET /auth?scope=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = _exchange(server, url)
    assert _status(answer) == 414
    assert answer.endswith(b"longer than 8192 bytes (server.max_request_line)\n")

    huge_header = _docker_like(_basic("bob", "bob-pw"), b"Cookie: " + b"c" * 17000 + b"\r\n")
    answer = _exchange(server, huge_header)
    assert _status(answer) == 431 and b"(server.max_header_size)" in answer

    # sent on past the limit, as over a real network: the answer arrives, not a reset
    endless_cookie = huge_header.partition(b"Cookie: ")[0] + b"Cookie: " + b"c" * 160 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for start in range(0, len(endless_cookie), 16 * 1024):
            sock.sendall(endless_cookie[start : start + 16 * 1024])
            time.sleep(0.01)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert _status(answer) == 431 and b"(server.max_header_size)" in answer

    many = _docker_like(_basic("bob", "bob-pw"), *(b"X-H%d: v\r\n" % i for i in range(101)))
    answer = _exchange(server, many)
    assert _status(answer) == 431 and b"more than 100 request headers" in answer

    large_in_all = _docker_like(
        _basic("bob", "bob-pw"), *(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(9))
    )
    answer = _exchange(server, large_in_all)
    assert _status(answer) == 431 and b"(server.max_total_header_size)" in answer

    assert _status(_exchange(server, _docker_like(_basic("bob", "bob-pw")))) == 200
    log = server.output()
    assert '"event":"request refused"' in log and '"limit":"max_header_size"' in log
    assert "bob-pw" not in log and LONG_PASSWORD not in log


def _worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes of ``parent`` (its multiprocessing children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_64_mib_headers_keep_memory_flat_and_tokens_flowing(server: RegauthServer) -> None:
    workers = _worker_pids(server.process.pid)
    assert len(workers) == 2
    before = {pid: _rss_kib(pid) for pid in workers}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in workers:
                peak[pid] = max(peak[pid], _rss_kib(pid))
            time.sleep(0.02)

    accepted: list[int] = []

    def attack() -> None:
        piece = b"v" * 65536
        sent = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            try:
                sock.sendall(b"GET /auth HTTP/1.1\r\nHost: x\r\nX-Big: ")
                while sent < 64 * 1024 * 1024:
                    sock.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # the server refused and closed
        accepted.append(sent)

    statuses: list[int] = []
    latencies: list[float] = []

    def token_requests() -> None:
        with server.client() as client:
            while not done.is_set() or len(statuses) < 10:
                started = time.monotonic()
                answer = client.get(TOKEN_QUERY, auth=("bob", "bob-pw"))
                latencies.append(time.monotonic() - started)
                statuses.append(answer.status_code)

    sampler = threading.Thread(target=sample)
    requester = threading.Thread(target=token_requests)
    sampler.start()
    requester.start()
    attackers = [threading.Thread(target=attack) for _ in range(8)]
    for thread in attackers:
        thread.start()
    for thread in attackers:
        thread.join(60)
    time.sleep(0.2)
    done.set()
    sampler.join()
    requester.join(30)

    growth_mib = {pid: (peak[pid] - before[pid]) / 1024 for pid in workers}
    print(f"\n64 MiB header x 8: bytes taken before the close {sorted(accepted)}")
    print(f"worker RSS before {before} KiB, growth {growth_mib} MiB")
    print(f"{len(statuses)} token requests meanwhile, slowest {max(latencies) * 1000:.0f} ms")
    assert len(accepted) == 8 and max(accepted) < 32 * 1024 * 1024  # none took it all
    assert max(growth_mib.values()) < 50
    assert statuses and set(statuses) == {200}
    assert max(latencies) < 2


async def _slow_client(port: int, head: bytes, trickle: bytes) -> tuple[float, bytes]:
    """Open a connection, send ``head``, then one byte of ``trickle`` every half second
    until the server closes; the seconds from connect to the close and what it answered."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip() -> None:
        try:
            writer.write(head)
            for byte in trickle:
                await asyncio.sleep(0.5)
                writer.write(bytes([byte]))
                await writer.drain()
        except ConnectionError:
            pass

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), 15)
    except ConnectionError:
        answer = b"<reset>"
    elapsed = time.monotonic() - started
    dripping.cancel()
    writer.close()
    return elapsed, answer


async def _token_loop(server: RegauthServer, until: asyncio.Event) -> list[tuple[int, float]]:
    results = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        while not until.is_set():
            started = time.monotonic()
            answer = await client.get(TOKEN_QUERY, auth=("bob", "bob-pw"))
            results.append((answer.status_code, time.monotonic() - started))
            await asyncio.sleep(0.1)
    return results


async def test_slowloris_is_closed_after_header_timeout(server: RegauthServer) -> None:
    head = b"GET /auth HTTP/1.1\r\nHost: x\r\nX-Slow: "
    done = asyncio.Event()
    tokens = asyncio.create_task(_token_loop(server, done))
    slow = await asyncio.gather(*(_slow_client(server.port, head, b"a" * 60) for _ in range(200)))
    done.set()
    served = await tokens
    times = sorted(elapsed for elapsed, _ in slow)
    print(f"\n200 slowloris connections closed after {times[0]:.2f}..{times[-1]:.2f} s")
    print(f"{len(served)} token requests meanwhile, slowest {max(t for _, t in served):.3f} s")
    assert times[0] > HEADER_TIMEOUT - 0.1 and times[-1] < HEADER_TIMEOUT + 1.5
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in slow)
    assert all(b"(server.header_timeout)" in answer for _, answer in slow)
    assert served and {status for status, _ in served} == {200}
    assert max(latency for _, latency in served) < 1


async def test_unfinished_heads_share_a_budget_per_worker(server: RegauthServer) -> None:
    """300 connections each stalled on 60 KiB of headers, every one under the per-request
    limits: past 4 MiB per worker the largest holders are answered 503, the rest wait for
    header_timeout, and whole requests are answered all the while."""
    head = b"GET /auth HTTP/1.1\r\nHost: x\r\n" + (b"X-Pad: " + b"p" * 15000 + b"\r\n") * 4

    async def stalled() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head)
        try:
            return await asyncio.wait_for(reader.read(), 15)
        except ConnectionError:
            return b"<reset>"
        finally:
            writer.close()

    done = asyncio.Event()
    tokens = asyncio.create_task(_token_loop(server, done))
    answers = await asyncio.gather(*(stalled() for _ in range(300)))
    done.set()
    served = await tokens
    statuses = [answer[9:12] for answer in answers]
    shed, timed_out = statuses.count(b"503"), statuses.count(b"408")
    print(f"\n300 x 60 KiB stalled heads: {shed} answered 503, {timed_out} timed out (408)")
    assert shed + timed_out == 300
    assert timed_out * len(head) <= 2 * PENDING_BUDGET  # what the two workers went on holding
    assert shed >= 300 - 2 * PENDING_BUDGET // len(head)
    assert served and {status for status, _ in served} == {200}


async def test_slow_bodies_and_idle_connections_are_closed(server: RegauthServer) -> None:
    port = server.port
    body_head = (
        b"POST /auth HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )

    async def idle_after_an_answer() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await reader.readuntil(b'{"status":"ok"}')
        answered = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return time.monotonic() - answered, answer + rest

    (
        (body_time, body_answer),
        (silent_time, silent_answer),
        (idle_time, idle_answer),
    ) = await asyncio.gather(
        _slow_client(port, body_head + b"grant_type=", b"password&" * 20),
        _slow_client(port, b"", b""),
        idle_after_an_answer(),
    )
    print(
        f"\nslow body closed after {body_time:.2f} s, silent connection after "
        f"{silent_time:.2f} s, idle keep-alive after {idle_time:.2f} s"
    )
    assert BODY_TIMEOUT - 0.1 < body_time < BODY_TIMEOUT + 1
    assert body_answer.startswith(b"HTTP/1.1 408 ") and b"(server.body_timeout)" in body_answer
    assert HEADER_TIMEOUT - 0.1 < silent_time < HEADER_TIMEOUT + 1 and silent_answer == b""
    assert KEEPALIVE_TIMEOUT - 0.1 < idle_time < KEEPALIVE_TIMEOUT + 1
    assert idle_answer.count(b"HTTP/1.1 200 OK") == 1


def test_the_limits_follow_the_configuration(servers: tuple[RegauthServer, ...]) -> None:
    """What the defaults accept, smaller limits refuse (one worker: the other path into the
    protocol)."""
    server, small = servers
    two_kib = b"Cookie: " + b"c" * 2048 + b"\r\n"
    url = f"GET {TOKEN_QUERY}&x={'a' * 600} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    twelve = [b"X-H%d: v\r\n" % i for i in range(12)]
    bob = _basic("bob", "bob-pw")
    assert _status(_exchange(server, _docker_like(bob, two_kib))) == 200
    assert _status(_exchange(server, url.encode())) == 401  # no credentials, but read
    assert _status(_exchange(server, _docker_like(bob, *twelve))) == 200
    answer = _exchange(small, _docker_like(bob, two_kib))
    assert _status(answer) == 431 and b"longer than 1024 bytes" in answer
    answer = _exchange(small, url.encode())
    assert _status(answer) == 414 and b"longer than 512 bytes" in answer
    answer = _exchange(small, _docker_like(bob, *twelve))
    assert _status(answer) == 431 and b"more than 10 request headers" in answer
    assert _status(_exchange(small, _docker_like(bob))) == 200
