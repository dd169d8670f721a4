"""The change signal of a SQLite database: eight bytes in a file beside it.

A process that commits an account change writes eight fresh random bytes there; a worker
compares them with the ones it last saw before it trusts a cached login, and polls the change
log when they differ (see :mod:`regauth.sync`). Readers map the file into memory, so a look
costs a memory read rather than a system call on every request; they check once a second
that the file they map is still the one at the path (it may have been deleted or replaced).

Random bytes rather than a counter: writers need no lock and no read-modify-write, and two
writes that leave the same eight bytes behind are as likely as guessing a 64-bit key.
Everything here is best effort: without the signal the periodic poll still catches changes.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ChangeSignal"]

SIZE = 8
#: how often a reader checks that its mapping is still the file at the path
RECHECK_SECONDS = 1.0
_NO_SIGNAL = b""


class ChangeSignal:
    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._map: mmap.mmap | None = None
        self._identity: tuple[int, int] | None = None
        self._checked_at = float("-inf")

    def bump(self) -> None:
        """Tell every reader that something changed."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            os.pwrite(fd, os.urandom(SIZE), 0)
        except OSError:
            pass
        finally:
            os.close(fd)

    def read(self) -> bytes:
        """The signal's current bytes (empty when there is no signal file to read)."""
        now = self._clock()
        if now - self._checked_at >= RECHECK_SECONDS:
            self._checked_at = now
            self._remap_if_replaced()
        mapped = self._map
        return mapped[:SIZE] if mapped is not None else _NO_SIGNAL

    def _remap_if_replaced(self) -> None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            self.bump()  # create it, so that there is something to map
            try:
                status = os.stat(self.path)
            except OSError:
                self._unmap()
                return
        except OSError:
            self._unmap()
            return
        identity = (status.st_dev, status.st_ino)
        if identity == self._identity and self._map is not None:
            return
        self._unmap()
        if status.st_size < SIZE:
            self.bump()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            self._map = mmap.mmap(fd, SIZE, access=mmap.ACCESS_READ)
            self._identity = identity
        except (OSError, ValueError):
            self._map = None
        finally:
            os.close(fd)

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
        self._map = None
        self._identity = None

    def close(self) -> None:
        self._unmap()
        self._checked_at = float("-inf")  # a later read maps the file again at once
