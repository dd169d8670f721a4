"""The ``server:`` and ``token:`` sections: where regauth listens and what tokens it signs."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from regauth.config.base import Duration, Model, parse_host_port, parse_ip_pattern

__all__ = ["PROXY_HEADERS", "ServerConfig", "TokenConfig"]

PROXY_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded")


class ServerConfig(Model):
    listen: str = "127.0.0.1:5001"
    #: the URL clients use to reach regauth; the realm is public_url + path_prefix + /auth
    public_url: str | None = None
    path_prefix: str = ""
    certificate: Path | None = None
    key: Path | None = None
    #: headers that carry the client address, honoured only from trusted_proxies
    proxy_headers: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    #: password checks waiting or running at once per worker; more are refused (503)
    max_pending_password_checks: int = Field(default=64, ge=1, le=100_000)
    #: reload the configuration when its file changes (as on SIGHUP)
    watch_config: bool = False
    # request limits (regauth.web.request_limits); defaults no real client reaches
    #: bytes of the request line (method, URL, version); longer: 414
    max_request_line: int = Field(default=8192, ge=256, le=1024 * 1024)
    #: bytes of one header line; longer: 431
    max_header_size: int = Field(default=16384, ge=256, le=1024 * 1024)
    #: bytes of all header lines together; more: 431
    max_total_header_size: int = Field(default=65536, ge=256, le=16 * 1024 * 1024)
    #: header lines in one request; more: 431
    max_headers: int = Field(default=100, ge=8, le=10_000)
    #: bytes of all unfinished request heads of one worker; more: the largest is refused (503)
    max_pending_headers_size: int = Field(
        default=32 * 1024 * 1024, ge=64 * 1024, le=16 * 1024 * 1024 * 1024
    )
    #: from a new connection, or a request's first byte, to the end of its headers
    header_timeout: Duration = datetime.timedelta(seconds=10)
    #: from the end of a request's headers to the end of its body
    body_timeout: Duration = datetime.timedelta(seconds=30)
    #: how long an idle connection is kept open between requests
    keepalive_timeout: Duration = datetime.timedelta(seconds=5)

    @field_validator("header_timeout", "body_timeout", "keepalive_timeout")
    @classmethod
    def _check_timeout(cls, value: datetime.timedelta) -> datetime.timedelta:
        if not 0 < value.total_seconds() <= 3600:
            raise ValueError("expected more than 0 seconds and at most 1h")
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"expected an http(s) URL without query, got {value!r}")
        return value.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "/"):
            return ""
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/?", value):
            raise ValueError(f"expected a path like /regauth, got {value!r}")
        return value.rstrip("/")

    @field_validator("proxy_headers")
    @classmethod
    def _check_proxy_headers(cls, value: list[str]) -> list[str]:
        lowered = [v.lower() for v in value]
        for header in lowered:
            if header not in PROXY_HEADERS:
                raise ValueError(
                    f"unsupported proxy header {header!r}: use one of {', '.join(PROXY_HEADERS)}"
                )
        return lowered

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_ip_pattern(item)
        return value

    @model_validator(mode="after")
    def _check_pairs(self) -> ServerConfig:
        if (self.certificate is None) != (self.key is None):
            raise ValueError("certificate and key must be given together")
        if self.max_pending_headers_size < self.max_request_line + self.max_total_header_size:
            raise ValueError(
                "max_pending_headers_size must hold one whole request head: at least "
                "max_request_line + max_total_header_size "
                f"({self.max_request_line + self.max_total_header_size})"
            )
        if self.proxy_headers and not self.trusted_proxies:
            raise ValueError(
                "proxy_headers needs trusted_proxies: the addresses of the proxies whose "
                "headers to believe"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_host_port(self.listen)

    @property
    def tls(self) -> bool:
        return self.certificate is not None

    def base_url(self) -> str:
        """Where clients reach regauth, prefix included."""
        if self.public_url:
            return self.public_url + self.path_prefix
        host, port = self.host_port
        if host in ("0.0.0.0", "::"):  # noqa: S104
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{port}{self.path_prefix}"

    def realm(self) -> str:
        return self.base_url() + "/auth"


class TokenConfig(Model):
    issuer: str = "regauth"
    #: the audience; the first is the default when a request names none
    service: list[str] = Field(default_factory=lambda: ["registry"])
    expiration: int = Field(default=300, ge=60, le=86400)
    key: Path | None = None
    certificate: Path | None = None
    algorithm: Literal["ES256", "RS256"] = "ES256"
    kid: Literal["libtrust", "thumbprint"] = "libtrust"
    x5c: bool = True

    @field_validator("service", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("service")
    @classmethod
    def _check_services(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one service is needed")
        for item in value:
            if not item or any(ord(c) < 0x20 for c in item):
                raise ValueError(f"invalid service name {item!r}")
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _check_pairs(self) -> TokenConfig:
        if self.certificate is not None and self.key is None:
            raise ValueError("certificate needs the matching key")
        return self
