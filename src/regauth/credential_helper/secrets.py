"""Where the helper keeps what it knows: one record per registry.

* ``registries.json``: regauth's address, the user name, the registry's scheme: nothing secret.
* The device session (the one long-lived secret): in the OS keyring when one is available
  (the ``keyring`` library's backend, e.g. the Secret Service or macOS Keychain), otherwise in
  ``sessions.json``, created with mode 0600 in a folder with mode 0700.
* ``cache.json`` (mode 0600): the short credential of each registry and when it expires.

The folder is ``$REGAUTH_HELPER_DIR``, else ``$XDG_CONFIG_HOME/regauth/credential-helper``
(``~/.config/...``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["HelperState", "Record", "state_dir"]

KEYRING_SERVICE = "regauth-credential-helper"


def state_dir() -> Path:
    explicit = os.environ.get("REGAUTH_HELPER_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "regauth" / "credential-helper"


@dataclass
class Record:
    registry: str
    scheme: str
    server: str
    username: str
    #: "keyring" or "file": where the device session is
    store: str


def _keyring() -> Any | None:
    """The keyring library's backend when it is a real one (not the fail or null backend)."""
    if os.environ.get("REGAUTH_HELPER_KEYRING", "").lower() in ("0", "off", "no", "false"):
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or "null" in type(backend).__module__.lower():
        return None
    return keyring


class HelperState:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or state_dir()

    # ------------------------------------------------------------------ files

    def _read(self, name: str) -> dict[str, Any]:
        path = self.folder / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, name: str, data: dict[str, Any], *, private: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            self.folder.chmod(0o700)
        path = self.folder / name
        temp = path.with_suffix(".tmp")
        mode = 0o600 if private else 0o644
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.chmod(temp, mode)
        os.replace(temp, path)

    # ------------------------------------------------------------------ records

    def records(self) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for key, raw in self._read("registries.json").items():
            with contextlib.suppress(TypeError):
                found[key] = Record(**raw)
        return found

    def record(self, registry: str) -> Record | None:
        return self.records().get(registry)

    def save(self, record: Record, session: str) -> Record:
        backend = _keyring()
        record.store = "file"
        if backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, record.registry, session)
                record.store = "keyring"
            except Exception:
                record.store = "file"
        if record.store == "file":
            sessions = self._read("sessions.json")
            sessions[record.registry] = session
            self._write("sessions.json", sessions, private=True)
        registries = self._read("registries.json")
        registries[record.registry] = asdict(record)
        self._write("registries.json", registries, private=False)
        self.forget_credential(record.registry)
        return record

    def session(self, record: Record) -> str | None:
        if record.store == "keyring":
            backend = _keyring()
            if backend is None:
                return None
            try:
                value = backend.get_password(KEYRING_SERVICE, record.registry)
            except Exception:
                return None
            return str(value) if value else None
        value = self._read("sessions.json").get(record.registry)
        return str(value) if isinstance(value, str) else None

    def remove(self, registry: str) -> Record | None:
        record = self.record(registry)
        if record is None:
            return None
        if record.store == "keyring":
            backend = _keyring()
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.delete_password(KEYRING_SERVICE, registry)
        sessions = self._read("sessions.json")
        if sessions.pop(registry, None) is not None:
            self._write("sessions.json", sessions, private=True)
        registries = self._read("registries.json")
        registries.pop(registry, None)
        self._write("registries.json", registries, private=False)
        self.forget_credential(registry)
        return record

    # ------------------------------------------------------------------ short credentials

    def credential(self, registry: str) -> tuple[str, str, float] | None:
        """(username, secret, expires at as a UNIX time) cached for the registry."""
        raw = self._read("cache.json").get(registry)
        if not isinstance(raw, dict):
            return None
        try:
            return str(raw["username"]), str(raw["secret"]), float(raw["expires"])
        except (KeyError, TypeError, ValueError):
            return None

    def keep_credential(self, registry: str, username: str, secret: str, expires: float) -> None:
        cache = self._read("cache.json")
        cache[registry] = {"username": username, "secret": secret, "expires": expires}
        self._write("cache.json", cache, private=True)

    def forget_credential(self, registry: str) -> None:
        cache = self._read("cache.json")
        if cache.pop(registry, None) is not None:
            self._write("cache.json", cache, private=True)
