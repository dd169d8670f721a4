"""The small pieces the token path leans on for speed: per-second timestamp formatting, the
pooled JWT ids, power-of-two audit batches, the log flushed once per event-loop turn, the
remembered grants and the change signal."""

from __future__ import annotations

import asyncio
import datetime
import io
import ipaddress
import os
import random
import re
from pathlib import Path

import orjson
import pytest

from regauth.admission import SecondSight
from regauth.events import GrantEvent, _make_json_writer
from regauth.protocol.claims import ClaimsTemplate
from regauth.protocol.errors import InvalidRequest
from regauth.service import _RandomPool, new_jwt_id
from regauth.store.background import MAX_ROWS_PER_STATEMENT, _chunk_sizes
from regauth.store.change_signal import ChangeSignal
from regauth.timestamps import PerSecondFormat
from regauth.web.grant_memo import GrantMemo, RememberedGrant
from regauth.web.query_cache import QueryCache


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


def test_prepared_log_lines_are_the_same_json_as_field_lines() -> None:
    stream = _CountingStream()
    write = _make_json_writer(stream)
    fields = {"status": 200, "account": 'ä"lice', "scopes": ["repository:a:pull"], "event": "token"}
    write(dict(fields))
    prefix = orjson.dumps(fields)[:-1] + b","
    write.write_prefix(prefix)
    write({})
    first, second, empty = stream.lines()
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        k: v for k, v in second.items() if k != "timestamp"
    }
    assert first["level"] == second["level"] == empty["level"] == "info"
    assert list(first)[-2:] == ["level", "timestamp"]


# -------------------------------------------------------------------- remembered grants


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _remembered(
    memo: GrantMemo, key: bytes, *, reusable_for: float = 60, generation: int = 0
) -> RememberedGrant:
    claims = ClaimsTemplate(issuer="i", subject="s", audience="a", access=[], expires_in=300)
    event = GrantEvent({"status": 200}, (), ("[]", None))
    return memo.put(key, claims, event, reusable_for=reusable_for, generation=generation)


def test_memo_keys_tell_every_part_of_a_request_apart() -> None:
    memo = GrantMemo(10)
    here, there = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1")
    keys = {
        memo.key(b"Basic YWxpY2U6cHc=", b"scope=repository:a:pull", here),
        memo.key(b"Basic YWxpY2U6cHc=", b"scope=repository:a:pull", there),
        memo.key(b"Basic YWxpY2U6cHc=", b"scope=repository:a:pull", None),
        memo.key(b"Basic YWxpY2U6cHc=", b"scope=repository:a:push", here),
        memo.key(b"Basic YWxpY2U6cHd4", b"scope=repository:a:pull", here),
        memo.key(b"", b"scope=repository:a:pull", here),
        # the same bytes split differently between header and query
        memo.key(b"Basic YWxpY2U6cHc=scope", b"=repository:a:pull", here),
    }
    assert len(keys) == 7
    assert memo.key(b"x", b"y", here) == memo.key(b"x", b"y", ipaddress.ip_address("192.0.2.1"))
    # keyed per process: another memo gives other keys, and neither holds the header
    other = GrantMemo(10)
    assert other.key(b"x", b"y", here) != memo.key(b"x", b"y", here)
    assert b"YWxpY2U6cHc" not in memo.key(b"Basic YWxpY2U6cHc=", b"", None)


def test_a_remembered_grant_holds_until_its_deadline_or_a_new_generation() -> None:
    clock = _Clock()
    memo = GrantMemo(10, clock=clock)
    entry = _remembered(memo, b"k", reusable_for=30, generation=4)
    assert memo.get(b"k", 4) is entry
    assert memo.get(b"k", 5) is None  # something changed: dropped
    assert len(memo) == 0
    _remembered(memo, b"k", reusable_for=30, generation=5)
    clock.now += 29.9
    assert memo.get(b"k", 5) is not None
    clock.now += 0.1
    assert memo.get(b"k", 5) is None
    assert memo.get(b"unknown", 5) is None


def test_the_memo_is_bounded_and_drops_the_oldest() -> None:
    memo = GrantMemo(3)
    for name in (b"a", b"b", b"c", b"d"):
        _remembered(memo, name)
    assert len(memo) == 3
    assert memo.get(b"a", 0) is None
    assert all(memo.get(k, 0) is not None for k in (b"b", b"c", b"d"))
    _remembered(memo, b"b")  # again: replaced, not duplicated
    assert len(memo) == 3
    with pytest.raises(ValueError, match="at least one"):
        GrantMemo(0)


# -------------------------------------------------------------------- the change signal


def test_a_change_signal_bump_is_seen_by_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "regauth.db-changes"
    reader, other_reader, writer = ChangeSignal(path), ChangeSignal(path), ChangeSignal(path)
    first = reader.read()
    assert len(first) == 8 and path.stat().st_size == 8  # created by the first reader
    assert other_reader.read() == first
    seen = {first}
    for _ in range(20):
        writer.bump()
        now = reader.read()
        assert now not in seen  # every bump is visible at once, without a system call
        assert other_reader.read() == now
        seen.add(now)
    reader.close()
    assert reader.read() == other_reader.read()  # maps the file again after close


def test_a_replaced_signal_file_is_followed_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "regauth.db-changes"
    clock = _Clock()
    reader = ChangeSignal(path, clock=clock)
    before = reader.read()
    path.unlink()
    ChangeSignal(path).bump()  # a new file at the path
    new_value = path.read_bytes()
    assert reader.read() == before  # still the old mapping...
    clock.now += 1.0
    assert reader.read() == new_value  # ...until the once-a-second check


def test_an_unreadable_signal_is_no_signal(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no-such-dir" / "regauth.db-changes"
    signal = ChangeSignal(missing_dir)
    assert signal.read() == b""
    signal.bump()  # best effort: no error
    assert signal.read() == b""


# -------------------------------------------------------------------- admission, parsed queries


def test_second_sight_admits_a_key_when_it_comes_back() -> None:
    seen = SecondSight(3)
    assert not seen.admit("a")
    assert seen.admit("a")  # the second time
    assert not seen.admit("a")  # admitted keys are forgotten: a third is a first again
    for key in ("b", "c", "d", "e"):  # pushes "a"... and "b" out
        assert not seen.admit(key)
    assert len(seen) == 3
    assert not seen.admit("b")  # forgotten: the oldest went first
    assert seen.admit("e")
    with pytest.raises(ValueError, match="at least 1"):
        SecondSight(0)


def test_parsed_queries_are_kept_from_their_second_sight_and_errors_never() -> None:
    cache = QueryCache(max_entries=2)
    query = "service=registry&scope=repository:a/b:pull"
    first = cache.parse(query)
    assert len(cache) == 0
    assert cache.parse(query) == first and len(cache) == 1
    assert cache.parse(query) is cache.parse(query)  # from the cache now
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            cache.parse("scope=repository:Bad:pull")
    assert len(cache) == 1
    long_query = "scope=repository:a/b:pull&client_id=" + "x" * 600
    for _ in range(2):
        cache.parse(long_query)
    assert len(cache) == 1  # long ones are parsed every time
    for other in ("scope=repository:c:pull", "scope=repository:d:pull"):
        cache.parse(other)
        cache.parse(other)
    assert len(cache) == 2  # bounded, the oldest out


class _UnbufferedStream(io.TextIOWrapper):
    """stdout as ``PYTHONUNBUFFERED=1`` makes it: the binary layer is the raw file, every
    write a system call; this one counts them, and takes at most 100 bytes per call."""

    def __init__(self) -> None:
        self.calls = 0
        self.raw_bytes = io.BytesIO()
        outer = self

        class Raw(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: object) -> int:
                outer.calls += 1
                chunk = bytes(memoryview(data))[:100]  # type: ignore[arg-type]
                outer.raw_bytes.write(chunk)
                return len(chunk)

        super().__init__(Raw(), "utf-8", write_through=True)  # type: ignore[arg-type]
        self._raw = self.buffer

    def lines(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.raw_bytes.getvalue().splitlines()]


def test_an_unbuffered_stream_gets_a_turns_lines_in_few_writes() -> None:
    stream = _UnbufferedStream()
    write = _make_json_writer(stream)

    async def requests() -> None:
        for name in range(20):
            write({"event": "token", "account": f"user{name}"})
        assert stream.calls == 0
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(requests())
    written = stream.raw_bytes.getvalue()
    assert [line["account"] for line in stream.lines()] == [f"user{n}" for n in range(20)]
    # one write per 100 bytes (this stream's limit), not one per line and nothing lost
    assert stream.calls == -(-len(written) // 100)
