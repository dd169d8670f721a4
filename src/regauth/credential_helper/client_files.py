"""Telling the clients to ask this helper: ``credHelpers`` entries.

* docker reads ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``);
* podman, skopeo and buildah read the containers ``auth.json``: ``$REGISTRY_AUTH_FILE``, else
  ``$XDG_RUNTIME_DIR/containers/auth.json`` and then ``~/.config/containers/auth.json`` (the
  persistent one, which this helper writes unless told another).

``{"credHelpers": {"registry.example.com": "regauth"}}`` makes a client run
``docker-credential-regauth get`` for that registry. Everything else in the files is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "HELPER_NAME",
    "ClientFileError",
    "containers_auth_file",
    "docker_config_file",
    "set_helper",
]

HELPER_NAME = "regauth"


class ClientFileError(Exception):
    """A client's configuration file exists but cannot be read or written."""


def docker_config_file() -> Path:
    folder = os.environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def containers_auth_file() -> Path:
    explicit = os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "containers" / "auth.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ClientFileError(f"cannot read {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ClientFileError(f"{path} is not JSON; fix or remove it") from None
    if not isinstance(data, dict):
        raise ClientFileError(f"{path} is not a JSON object; fix or remove it")
    return data


def set_helper(path: Path, registry: str, *, enabled: bool) -> bool:
    """Add (or with ``enabled=False`` remove) ``credHelpers[registry] = "regauth"``; whether
    the file changed."""
    data = _load(path)
    helpers = data.get("credHelpers")
    if not isinstance(helpers, dict):
        helpers = {}
    if enabled:
        if helpers.get(registry) == HELPER_NAME:
            return False
        helpers[registry] = HELPER_NAME
    else:
        if helpers.get(registry) != HELPER_NAME:
            return False
        del helpers[registry]
    data["credHelpers"] = helpers
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(temp, path)
    except OSError as exc:
        raise ClientFileError(f"cannot write {path}: {exc.strerror}") from None
    return True
