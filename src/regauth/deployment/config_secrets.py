"""A configuration document split for Kubernetes: what may sit in a ConfigMap, and the rest.

Every secret field (``password``, ``client_secret``, ``database.url``, ...) given inline, or
through ``<field>_file``, moves into a Secret and is read back with ``<field>_env``; the files a
configuration names by path (``token.key``, ``htpasswd``, certificates, CA files) move into a
second Secret mounted at :data:`FILES_DIR`. The ConfigMap then holds nothing secret.
"""

from __future__ import annotations

import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regauth.config import Config
from regauth.config.base import Model

__all__ = ["FILES_DIR", "PATH_KEYS", "SplitConfig", "split_config"]

#: where the Secret with the files a configuration names is mounted in the pod
FILES_DIR = "/etc/regauth/files"
#: configuration keys that name a file (relative paths are relative to the configuration file)
PATH_KEYS = frozenset(
    {
        ("ldap", "ca_file"),
        ("registry", "ca_file"),
        ("server", "certificate"),
        ("server", "key"),
        ("token", "certificate"),
        ("token", "key"),
        ("htpasswd",),
    }
)


@dataclass
class SplitConfig:
    #: the document for the ConfigMap: no secret value, paths pointing into :data:`FILES_DIR`
    document: dict[str, Any]
    #: environment variable -> secret value, for the Secret the pod reads with ``envFrom``
    environment: dict[str, str] = field(default_factory=dict)
    #: file name -> content, for the Secret mounted at :data:`FILES_DIR`
    files: dict[str, bytes] = field(default_factory=dict)
    #: environment variables the configuration reads (``<field>_env``) that are not set here
    missing_environment: list[str] = field(default_factory=list)


def split_config(raw: dict[str, Any], base_dir: Path) -> SplitConfig:
    """Split a parsed configuration file (``base_dir``: the folder it was read from)."""
    split = SplitConfig(document={})
    split.document = _split(raw, Config, (), split, base_dir)
    return split


def _variable(path: tuple[str, ...], taken: dict[str, str]) -> str:
    """An environment variable named after the key's path, not yet ``taken``."""
    name = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", part) for part in path).strip("_").upper()
    variable, number = f"REGAUTH_SECRET_{name}", 1
    while variable in taken:  # users "a-b" and "a_b" would share a name
        number += 1
        variable = f"REGAUTH_SECRET_{name}_{number}"
    return variable


def _file_name(path: tuple[str, ...], source: Path) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9.]+", "-", p) for p in path).strip("-") + source.suffix


def _split(
    node: dict[str, Any],
    model: type[Model],
    path: tuple[str, ...],
    split: SplitConfig,
    base_dir: Path,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = (*path, str(key))
        name = str(key)
        base = name.removesuffix("_file").removesuffix("_env")
        if name in model.secret_fields and isinstance(value, str):
            variable = _variable(here, split.environment)
            split.environment[variable] = value
            out[f"{name}_env"] = variable
        elif name == f"{base}_file" and base in model.secret_fields:
            variable = _variable((*path, base), split.environment)
            source = Path(str(value))  # relative to the working folder, as regauth reads it
            split.environment[variable] = source.read_text(encoding="utf-8").rstrip("\r\n")
            out[f"{base}_env"] = variable
        elif name == f"{base}_env" and base in model.secret_fields:
            variable = str(value)
            if variable in os.environ:
                split.environment[variable] = os.environ[variable]
            else:
                split.missing_environment.append(variable)
            out[name] = variable
        elif here in PATH_KEYS and isinstance(value, str):
            source = Path(value) if os.path.isabs(value) else base_dir / value
            file_name = _file_name(here, source)
            split.files[file_name] = source.read_bytes()
            out[name] = f"{FILES_DIR}/{file_name}"
        else:
            info = model.model_fields.get(name)
            annotation = info.annotation if info is not None else None
            out[name] = _descend(value, annotation, here, split, base_dir)
    return out


def _descend(
    value: Any,
    annotation: Any,
    path: tuple[str, ...],
    split: SplitConfig,
    base_dir: Path,
) -> Any:
    """``value`` split as its field's type says: a section, a list or mapping of sections."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Model):
        if isinstance(value, dict):
            return _split(value, annotation, path, split, base_dir)
    elif origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            if isinstance(option, type) and issubclass(option, Model) and isinstance(value, dict):
                return _split(value, option, path, split, base_dir)
    elif origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation)
        return [
            _descend(item, item_type, (*path, str(index)), split, base_dir)
            for index, item in enumerate(value)
        ]
    elif origin is dict and isinstance(value, dict):
        _, value_type = typing.get_args(annotation)
        return {
            k: _descend(v, value_type, (*path, str(k)), split, base_dir) for k, v in value.items()
        }
    return value
