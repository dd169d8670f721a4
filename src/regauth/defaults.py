"""The configuration ``regauth serve`` uses when it is given none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regauth.config import Config, parse_config
from regauth.datadir import ADMIN_USER, DataDir

__all__ = ["default_config", "default_config_document"]


def default_config_document(data_dir: DataDir) -> dict[str, Any]:
    return {
        "htpasswd": str(data_dir.htpasswd),
        "acl": [
            {
                "match": {"account": ADMIN_USER},
                "actions": ["*"],
                "comment": "The admin user may do everything, including listing the catalog.",
            },
            {
                "match": {"account": "/.+/", "name": "${account}/*"},
                "actions": ["*"],
                "comment": "Every logged-in user owns the namespace named after them.",
            },
        ],
    }


def default_config(data_dir: DataDir, environ: Mapping[str, str] | None = None) -> Config:
    return parse_config(default_config_document(data_dir), environ=environ)
