"""The parent process of ``regauth serve --workers N``: uvicorn's supervisor, reloading in place.

uvicorn's own SIGHUP handling replaces every worker, which would start workers with a
configuration that may not even validate. Here the parent validates the configuration first
(one log line naming the key if it does not, and the workers keep serving the old one), then
forwards SIGHUP to each worker, which reloads in place (:mod:`regauth.web.reload`). With
``server.watch_config`` the parent also looks at the file once a second and does the same when
it changes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from socket import socket

import structlog
from uvicorn import Config as UvicornConfig
from uvicorn.supervisors.multiprocess import Multiprocess

from regauth.config import Config
from regauth.config.reloading import restart_only_changes
from regauth.web.reload import file_signature, load_problem

__all__ = ["ReloadingSupervisor"]

log = structlog.get_logger("regauth.reload")


class ReloadingSupervisor(Multiprocess):
    def __init__(
        self,
        config: UvicornConfig,
        sockets: list[socket],
        *,
        load: Callable[[], Config],
        current: Config,
        path: Path | None,
        watch: bool,
    ) -> None:
        super().__init__(config, sockets)
        self._load = load
        self._current = current
        self._path = path
        self._watch = watch and path is not None
        self._seen = file_signature(path)

    def handle_hup(self) -> None:  # uvicorn calls it for a SIGHUP to the parent
        self._reload("SIGHUP")

    def keep_subprocess_alive(self) -> None:  # uvicorn calls it twice a second
        super().keep_subprocess_alive()
        if self._watch:
            signature = file_signature(self._path)
            if signature is not None and signature != self._seen:
                self._seen = signature
                self._reload("configuration file changed")

    def _reload(self, reason: str) -> None:
        config, problem = load_problem(self._load)
        if config is None:
            log.error(
                "configuration not reloaded; the previous one keeps serving",
                reason=reason,
                problem=problem,
            )
            return
        workers = [p.pid for p in self.processes if p.pid is not None]
        log.info("reloading the configuration in every worker", reason=reason, workers=len(workers))
        needs_restart = restart_only_changes(self._current, config)
        if needs_restart:
            log.warning(
                "some changes need a restart to take effect", restart_needed_for=needs_restart
            )
        for pid in workers:
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:  # a worker that just died is replaced with the new file
                continue
