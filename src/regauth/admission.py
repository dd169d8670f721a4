"""Admission on second sight for the hot path's caches.

A cache filled with every request it sees turns a stream of distinct requests (each repository
asked for once, each of ten thousand users logging in once) into a stream of cache entries that
are made, kept a while and thrown away. Each entry is a few objects the garbage collector
must walk while they live, and under such a stream its collections grew to tens of
milliseconds. :class:`SecondSight` lets a cache take an entry only when its key comes back:
requests seen once cost the cache nothing, requests that repeat (most of what clients send)
are cached from their second time on.

It remembers the hashes of recently seen keys (plain ints, which the collector ignores) in
insertion order, up to ``capacity``; two keys with the same hash only let one entry in early.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["SecondSight"]


class SecondSight:
    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._seen: OrderedDict[int, None] = OrderedDict()

    def admit(self, key: Hashable) -> bool:
        """True when ``key`` was seen recently (and is forgotten now), else remember it."""
        digest = hash(key)
        seen = self._seen
        if digest in seen:
            del seen[digest]
            return True
        if len(seen) >= self._capacity:
            seen.popitem(last=False)
        seen[digest] = None
        return False

    def __len__(self) -> int:
        return len(self._seen)
