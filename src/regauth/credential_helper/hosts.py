"""Registry addresses as docker, podman, skopeo and buildah pass them, made comparable.

Docker passes ``https://registry.example.com`` or ``registry.example.com``; the containers
tools pass ``registry.example.com:5000``. All of them mean the key ``registry.example.com:5000``
(``host[:port]``, lower-case host). An explicit ``http://`` is remembered separately as the
scheme to use for a registry without TLS (tests and homelabs on loopback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["InvalidRegistry", "Registry", "parse_registry"]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}|\[[0-9A-Fa-f:.]+\]")


class InvalidRegistry(ValueError):
    """Not a registry address."""


@dataclass(frozen=True)
class Registry:
    #: ``host[:port]``, the key credentials are stored under
    key: str
    #: ``https`` unless the address said ``http://``
    scheme: str = "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.key}"


def parse_registry(text: str) -> Registry:
    value = text.strip()
    scheme = "https"
    lowered = value.lower()
    if lowered.startswith("http://"):
        scheme, value = "http", value[7:]
    elif lowered.startswith("https://"):
        value = value[8:]
    value = value.split("/", 1)[0]  # docker may add /v1/ or /v2/
    host, sep, port = value.rpartition(":") if not value.endswith("]") else (value, "", "")
    if not sep:
        host, port = value, ""
    if (
        not host
        or not _HOST.fullmatch(host)
        or (port and not (port.isdigit() and 0 < int(port) < 65536))
    ):
        raise InvalidRegistry(f"not a registry address: {text.strip()[:100]!r}")
    key = host.lower() + (f":{int(port)}" if port else "")
    return Registry(key, scheme)
