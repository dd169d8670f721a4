"""What every configuration section shares: the base model, secrets and value parsers.

* :class:`Model`: unknown keys are errors; a secret field ``x`` may instead be given as
  ``x_file`` (read from a file) or ``x_env`` (read from an environment variable).
* :class:`ConfigError`: invalid configuration, one line per problem, each naming its key.
* Value parsers shared by several sections: durations (``14d``, ``12h``, seconds), ``host:port``
  and IP address patterns (an address or a CIDR).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, model_validator

from regauth.durations import duration_from_seconds, parse_duration
from regauth.protocol.secret import Secret

__all__ = [
    "ConfigError",
    "Duration",
    "IpNetwork",
    "Model",
    "SecretStr",
    "parse_host_port",
    "parse_ip_pattern",
]


class ConfigError(Exception):
    """Invalid configuration; each line of the message names one key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _as_secret(value: Any) -> Any:
    if isinstance(value, Secret) or value is None:
        return value
    if isinstance(value, str):
        return Secret(value)
    raise ValueError("must be a string")


SecretStr = Annotated[Secret, BeforeValidator(_as_secret)]


class Model(BaseModel):
    """Base of every section: unknown keys are errors; secret fields take *_file / *_env."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, validate_default=True
    )
    #: names of fields that may instead be given as ``<name>_file`` or ``<name>_env``
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_indirections(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not cls.secret_fields:
            return data
        data = dict(data)
        for name in cls.secret_fields:
            given = [k for k in (name, f"{name}_file", f"{name}_env") if k in data]
            if len(given) > 1:
                raise ValueError(f"give only one of {', '.join(given)}")
            if f"{name}_file" in data:
                path = Path(str(data.pop(f"{name}_file")))
                try:
                    data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ValueError(
                        f"{name}_file: cannot read {path}: {exc.strerror or exc}"
                    ) from None
            elif f"{name}_env" in data:
                variable = str(data.pop(f"{name}_env"))
                environ = (info.context or {}).get("environ", os.environ)
                if variable not in environ:
                    raise ValueError(f"{name}_env: environment variable {variable} is not set")
                data[name] = environ[variable]
        return data


def parse_host_port(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; ``:port`` means all interfaces) as a pair."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected host:port, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {value!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":5001" means all interfaces
    return host, port


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip_pattern(value: str) -> IpNetwork:
    """An address or a CIDR, as docker_auth's ``ip`` match accepts."""
    try:
        if "/" in value:
            return ipaddress.ip_network(value, strict=False)
        return ipaddress.ip_network(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {value!r}") from None


def _duration(value: Any) -> Any:
    """The one duration parser (:mod:`regauth.durations`): range-checked, never an overflow."""
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    return duration_from_seconds(value)


#: a duration: ``14d``, ``12h``, ``30m``, ``45s``, ``2w`` or a number of seconds
Duration = Annotated[datetime.timedelta, BeforeValidator(_duration)]
