"""Time for everything above the store: the current UTC time and the type of an injected clock.

It sits below :mod:`regauth.store` so the front ends (CLI, admin API) and the core ask for the
time without importing storage, and tests pass their own clock instead of sleeping.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

__all__ = ["Clock", "utcnow"]

#: a source of timezone-aware UTC datetimes (``utcnow`` in production, a fixed one in tests)
Clock = Callable[[], datetime.datetime]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
