"""Hot reload in a worker: SIGHUP (or a changed file) re-reads the configuration.

The new configuration is loaded and validated off the event loop; if it does not validate, or
names a file that is not there, one log line says why (naming the key) and the old one keeps
serving. Otherwise the pipeline is rebuilt (:meth:`RegauthApp.reconfigure`) and answers from
the next request on; requests in flight finish with the old one. Settings only a restart can
change are named in the log (see :mod:`regauth.config.reloading`).

With several workers, ``regauth serve``'s supervisor validates first and forwards SIGHUP to
each worker (see :mod:`regauth.supervisor`); it also does the file watching, so one change
is looked at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog

from regauth.config import Config, ConfigError

__all__ = ["Reconfigurable", "Reloader", "file_signature", "load_problem"]

log = structlog.get_logger("regauth.reload")
#: seconds between looks at the configuration file when watching it
WATCH_INTERVAL = 1.0


def file_signature(path: Path | None) -> tuple[int, int, int] | None:
    """What tells a changed file: modification time, size and inode (None when unreadable)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def load_problem(load: Callable[[], Config]) -> tuple[Config | None, str | None]:
    """``load()``, or the one line that says why the configuration cannot be used."""
    try:
        return load(), None
    except ConfigError as exc:
        return None, "; ".join(exc.problems)
    except OSError as exc:
        return None, f"cannot read the configuration: {exc.strerror or exc}"


class Reconfigurable(Protocol):
    """What a reload applies the configuration to (:class:`regauth.web.app.RegauthApp`)."""

    async def reconfigure(self, config: Config) -> list[str]: ...


class Reloader:
    def __init__(
        self,
        load: Callable[[], Config],
        *,
        path: Path | None,
        watch: bool = False,
        signals: bool = True,
    ) -> None:
        self._load = load
        self._path = path
        self._watch = watch and path is not None
        self._signals = signals
        self._app: Reconfigurable | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._seen = file_signature(path)
        #: how many reloads were applied (for tests)
        self.applied = 0

    def start(self, app: Reconfigurable) -> None:
        self._app = app
        loop = asyncio.get_running_loop()
        if self._signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                # only the main thread of a process may handle signals (not in-process tests)
                loop.add_signal_handler(
                    signal.SIGHUP, lambda: loop.create_task(self.reload("SIGHUP"))
                )
        if self._watch:
            self._task = loop.create_task(self._watch_file())

    async def stop(self) -> None:
        if self._signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch_file(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            signature = file_signature(self._path)
            if signature is not None and signature != self._seen:
                self._seen = signature
                await self.reload("configuration file changed")

    async def reload(self, reason: str) -> bool:
        """Apply the configuration as it is now; False (and one log line) if it cannot be."""
        app = self._app
        if app is None:
            return False
        async with self._lock:
            config, problem = await asyncio.to_thread(load_problem, self._load)
            if config is None:
                log.error(
                    "configuration not reloaded; the previous one keeps serving",
                    reason=reason,
                    problem=problem,
                )
                return False
            try:
                needs_restart = await app.reconfigure(config)
            except Exception as exc:  # a file it names is missing, a provider is misconfigured
                log.error(
                    "configuration not reloaded; the previous one keeps serving",
                    reason=reason,
                    problem=str(exc)[:500],
                )
                return False
            self.applied += 1
            if needs_restart:
                log.warning(
                    "configuration reloaded; some changes need a restart to take effect",
                    reason=reason,
                    restart_needed_for=needs_restart,
                )
            else:
                log.info("configuration reloaded", reason=reason)
            return True
