"""The small pieces the token path leans on for speed: per-second timestamp formatting, the
pooled JWT ids, power-of-two audit batches and the log flushed once per event-loop turn."""

from __future__ import annotations

import asyncio
import datetime
import io
import os
import random
import re

import orjson

from regauth.events import _make_json_writer
from regauth.service import _RandomPool, new_jwt_id
from regauth.store.background import MAX_ROWS_PER_STATEMENT, _chunk_sizes
from regauth.timestamps import PerSecondFormat


def test_per_second_format_matches_datetime_to_the_microsecond() -> None:
    iso = PerSecondFormat("%Y-%m-%dT%H:%M:%S.", "Z")
    sqlite = PerSecondFormat("%Y-%m-%d %H:%M:%S.")
    assert iso(0.0) == "1970-01-01T00:00:00.000000Z"
    assert sqlite(1764078875.5) == "2025-11-25 13:54:35.500000"
    rng = random.Random(7)
    moments = [rng.uniform(0, 4e9) for _ in range(20000)]
    moments += [1764078875.9999996, 1764078876.000001, 1764078875.999999]
    for at in sorted(moments):  # in order, as a log is written: the cached prefix is reused
        parsed = datetime.datetime.strptime(iso(at), "%Y-%m-%dT%H:%M:%S.%fZ")
        expected = datetime.datetime.fromtimestamp(at, datetime.UTC).replace(tzinfo=None)
        assert abs((parsed - expected).total_seconds()) <= 1e-6, at
    # going back in time re-formats the second instead of reusing a stale prefix
    assert iso(1764078876.25) == "2025-11-25T13:54:36.250000Z"
    assert iso(1764078875.25) == "2025-11-25T13:54:35.250000Z"


def test_jwt_ids_are_distinct_and_of_full_length() -> None:
    ids = [new_jwt_id() for _ in range(5000)]  # crosses several refills of the pool
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", jti) for jti in ids)


def test_random_pool_hands_out_each_byte_once_and_forgets_after_fork() -> None:
    pool = _RandomPool()
    first = pool.take(18)
    second = pool.take(18)
    assert len(first) == len(second) == 18 and first != second
    buffer = pool._buffer
    assert buffer[:36] == first + second  # consecutive, never overlapping
    pool.forget()
    assert pool._buffer == b"" and pool._offset == 0
    big = pool.take(_RandomPool.SIZE + 10)  # larger than the pool: still served whole
    assert len(big) == _RandomPool.SIZE + 10


def test_a_forked_child_draws_fresh_bytes() -> None:
    new_jwt_id()  # the parent's pool holds unread bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, new_jwt_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id and child_id != new_jwt_id()


def test_audit_batches_are_cut_into_few_statement_sizes() -> None:
    for count in range(1, 1000):
        sizes = _chunk_sizes(count)
        assert sum(sizes) == count
        assert all(s == MAX_ROWS_PER_STATEMENT or s & (s - 1) == 0 for s in sizes)
    assert _chunk_sizes(300) == [128, 128, 32, 8, 4]
    assert {s for n in range(1, 1000) for s in _chunk_sizes(n)} == {1, 2, 4, 8, 16, 32, 64, 128}


class _CountingStream(io.TextIOWrapper):
    def __init__(self) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(io.BufferedWriter(self.raw_bytes, buffer_size=1 << 16), "utf-8")

    def lines(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.raw_bytes.getvalue().splitlines()]


def test_log_lines_outside_an_event_loop_are_flushed_at_once() -> None:
    stream = _CountingStream()
    emit = _make_json_writer(stream)
    emit({"event": "token", "account": "alice"})
    assert [line["account"] for line in stream.lines()] == ["alice"]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(stream.lines()[0]["timestamp"])
    )


def test_log_lines_of_one_loop_turn_are_flushed_together_at_its_end() -> None:
    stream = _CountingStream()
    emit = _make_json_writer(stream)

    async def requests() -> list[int]:
        seen = []
        for name in ("a", "b", "c"):
            emit({"event": "token", "account": name})
            seen.append(len(stream.lines()))
        await asyncio.sleep(0)  # the turn ends: the pending flush runs
        await asyncio.sleep(0)
        seen.append(len(stream.lines()))
        return seen

    assert asyncio.run(requests()) == [0, 0, 0, 3]


def test_a_flush_left_pending_by_a_stopped_loop_does_not_silence_the_next_loop() -> None:
    stream = _CountingStream()
    emit = _make_json_writer(stream)
    abandoned = asyncio.new_event_loop()
    asyncio.events._set_running_loop(abandoned)  # a loop that stops before its next turn
    try:
        emit({"event": "token", "account": "first"})
    finally:
        asyncio.events._set_running_loop(None)
        abandoned.close()
    assert stream.lines() == []  # its flush never ran

    async def emit_and_wait() -> None:
        emit({"event": "token", "account": "second"})
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(emit_and_wait())
    assert [line["account"] for line in stream.lines()] == ["first", "second"]
