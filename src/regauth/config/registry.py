"""The ``registry:`` and ``events:`` sections: the registry regauth serves, and what it sends back.

``registry.url`` is where regauth itself reads the registry's API (the console's repository pages);
``registry.public_url`` is the address people and clients use (the console's ``docker login``
commands). ``registry.notification_secret`` is the shared secret the registry sends with its
notifications (``events:`` says what regauth keeps of them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from regauth.config.base import Model, SecretStr

__all__ = ["EventsConfig", "RegistryConfig"]

_URL = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not _URL.fullmatch(value):
        raise ValueError(f"expected an http(s) URL without query, got {value!r}")
    return value.rstrip("/")


class RegistryConfig(Model):
    secret_fields: ClassVar[tuple[str, ...]] = ("notification_secret",)

    #: where regauth reads the registry's HTTP API (catalog, tags, manifests)
    url: str | None = None
    #: the registry's address as people and clients see it (``docker login HOST``)
    public_url: str | None = None
    #: a CA bundle to verify ``url`` when the registry's certificate is not publicly trusted
    ca_file: Path | None = None
    #: how long the console keeps what it read from the registry
    cache_seconds: int = Field(default=15, ge=0, le=3600)
    #: the secret the registry sends in its notifications' Authorization header
    notification_secret: SecretStr | None = None

    @field_validator("url", "public_url")
    @classmethod
    def _check_urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("notification_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.reveal()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    def public_host(self) -> str | None:
        """``host[:port]`` of :attr:`public_url` (what ``docker login`` takes), if set."""
        if self.public_url is None:
            return None
        return self.public_url.split("://", 1)[1].split("/", 1)[0]


class EventsConfig(Model):
    #: days registry events are kept (like ``audit.retention_days``)
    retention_days: int = Field(default=90, ge=1, le=3650)
    #: which pulls to keep: manifests only (default), every blob too, or none
    record_pulls: Literal["manifests", "all", "none"] = "manifests"
