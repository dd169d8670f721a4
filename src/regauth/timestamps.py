"""Timestamps formatted at the request rate: the part up to the second is formatted once per
second, the microseconds appended (``strftime`` per record was a large share of the cost of
writing a log line or an audit row)."""

from __future__ import annotations

import datetime

__all__ = ["PerSecondFormat"]


class PerSecondFormat:
    """``format(at)`` for a Unix time ``at``: ``strftime(prefix)`` of its UTC second, then the
    six digits of its microseconds, then ``suffix``. Not shared between threads."""

    __slots__ = ("_pattern", "_prefix", "_second", "_suffix")

    def __init__(self, pattern: str, suffix: str = "") -> None:
        self._pattern = pattern
        self._suffix = suffix
        self._second = -1
        self._prefix = ""

    def __call__(self, at: float) -> str:
        second, micro = divmod(round(at * 1_000_000), 1_000_000)
        if second != self._second:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            self._prefix = moment.strftime(self._pattern)
            self._second = second
        return f"{self._prefix}{micro:06d}{self._suffix}"
