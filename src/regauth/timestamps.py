"""Timestamps formatted at the request rate: the part up to the second is formatted once per
second, the microseconds appended (``strftime`` per record was a large share of the cost of
writing a log line or an audit row)."""

from __future__ import annotations

import datetime

__all__ = ["PerSecondFormat"]


class PerSecondFormat:
    """``format(at)`` for a Unix time ``at``: ``strftime(prefix)`` of its UTC second, then the
    six digits of its microseconds, then ``suffix``. Safe to share between threads: the
    formatted second is replaced as one (second, text) pair."""

    __slots__ = ("_pattern", "_second", "_suffix")

    def __init__(self, pattern: str, suffix: str = "") -> None:
        self._pattern = pattern
        self._suffix = suffix
        self._second: tuple[int, str] = (-1, "")

    def __call__(self, at: float) -> str:
        second, micro = divmod(round(at * 1_000_000), 1_000_000)
        cached = self._second
        if cached[0] != second:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            cached = (second, moment.strftime(self._pattern))
            self._second = cached
        return f"{cached[1]}{micro:06d}{self._suffix}"
