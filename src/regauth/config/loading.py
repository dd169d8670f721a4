"""Loading a configuration: YAML, environment overrides, relative paths, readable errors.

Loading order: the YAML file (or nothing), then ``REGAUTH_<SECTION>__<KEY>=value`` environment
overrides, then ``<field>_file`` / ``<field>_env`` indirections for secret fields, then
validation. Every problem becomes a :class:`ConfigError` whose lines name the offending key,
for example ``acl[3].match.name: invalid regular expression: ...``.

Relative paths in the file are resolved against the directory of the file, and a key given
twice in one mapping is an error rather than the last one silently winning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from regauth.config.base import ConfigError
from regauth.config.known_keys import hint_for
from regauth.config.root import Config

__all__ = ["ENV_NESTING", "ENV_PREFIX", "load_config", "parse_config"]

ENV_PREFIX = "REGAUTH_"
ENV_NESTING = "__"


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            text += f".{_key(part)}" if text else _key(part)
    return text or "(top level)"


def _key(part: Any) -> str:
    """A key as it may appear in a one-line message: quoted if it is not plain printable text."""
    name = str(part)
    if name.isprintable() and name.strip() == name and 0 < len(name) <= 64:
        return name
    shown = repr(name)
    return shown if len(shown) <= 66 else shown[:63] + "...'"


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _errors_from_validation(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        location = _format_location(tuple(p for p in error["loc"]))
        problem = f"{location}: {_describe(error)}"
        hint = hint_for(location) if error.get("type") == "extra_forbidden" else None
        problems.append(f"{problem}; {hint}" if hint else problem)
    return problems


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``REGAUTH_TOKEN__ISSUER=x`` sets ``token.issuer``; lists and maps may be given in YAML."""
    for variable, value in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or ENV_NESTING not in variable:
            continue
        path = [p.lower() for p in variable[len(ENV_PREFIX) :].split(ENV_NESTING)]
        if not all(path):
            raise ConfigError([f"{variable}: empty key in environment override"])
        parsed: Any = value
        if value[:1] in ("[", "{"):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ConfigError([f"{variable}: not valid YAML"]) from None
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([f"{variable}: {part} is not a section"])
            node = child
        node[path[-1]] = parsed


_PATH_KEYS = {
    ("ldap", "ca_file"),
    ("registry", "ca_file"),
    ("server", "certificate"),
    ("server", "key"),
    ("token", "certificate"),
    ("token", "key"),
    ("htpasswd",),
}


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for key_path in _PATH_KEYS:
        node: Any = raw
        for part in key_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            value = node.get(key_path[-1])
            if isinstance(value, str) and value and not os.path.isabs(value):
                node[key_path[-1]] = str(base / value)


def parse_config(
    raw: Any, *, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate an already-parsed YAML document (``None`` means all defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): the configuration must be a mapping of sections"])
    raw = dict(raw)
    environ = os.environ if environ is None else environ
    _apply_environment(raw, environ)
    if base_dir is not None:
        _resolve_paths(raw, base_dir)
    try:
        return Config.model_validate(raw, context={"environ": environ})
    except ValidationError as exc:
        raise ConfigError(_errors_from_validation(exc)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            hash(key)
        except TypeError:  # a list or mapping as a key ("? [a]"): PyYAML's own error, not ours
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be text, not a list or mapping", key_node.start_mark
            ) from None
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a configuration file; ``None`` gives the defaults (plus overrides)."""
    if path is None:
        return parse_config({}, environ=environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    return parse_config(raw, base_dir=path.resolve().parent, environ=environ)
