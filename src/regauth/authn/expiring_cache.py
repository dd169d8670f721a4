"""A bounded map whose entries each live until their own deadline.

The identity-provider token and federated robot authenticators both remember what a
verified token said until the token expires (or, for a refusal, a short while), and drop the
least recently used entry beyond their bound; this is that map, once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["ExpiringCache"]

V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """Entries kept until their deadline (a clock reading); at most ``max_entries``, the least
    recently used going first. ``max_entries`` of 0 or less keeps nothing."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def get(self, key: str, now: float) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, until = found
        if until <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V, until: float, now: float) -> None:
        if until <= now or self.max_entries <= 0:
            return
        self._entries[key] = (value, until)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
