"""Small sections on how the server runs: ``log:``, ``metrics:`` and ``credential_cache:``.

Limits on guessing and on requests (``brute_force:`` and the like) belong here too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from regauth.config.base import Model

__all__ = ["CredentialCacheConfig", "LogConfig", "MetricsConfig"]


class CredentialCacheConfig(Model):
    #: seconds a successful password check is remembered; 0 turns the cache off
    ttl: float = Field(default=60, ge=0, le=3600)
    max_entries: int = Field(default=10000, ge=0, le=10_000_000)


class MetricsConfig(Model):
    #: serve Prometheus metrics at GET /metrics (no account names or secrets in them)
    enabled: bool = True


class LogConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: one JSON object per line (default) or a human-readable console rendering
    format: Literal["json", "console"] = "json"
