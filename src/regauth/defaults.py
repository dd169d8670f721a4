"""The configuration ``regauth serve`` uses when it is given none, and its first admin."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from regauth.accounts import AccountService
from regauth.config import Config, parse_config
from regauth.datadir import DataDir

__all__ = ["ADMIN_USER", "bootstrap_admin", "default_config", "default_config_document"]

ADMIN_USER = "admin"


def default_config_document(data_dir: DataDir) -> dict[str, Any]:
    """Everything from the defaults: SQLite in the data folder, database users and grants.

    An htpasswd file in the data folder (``htpasswd -B regauth-data/htpasswd bob``) is used
    too when present.
    """
    document: dict[str, Any] = {}
    if data_dir.htpasswd.exists():
        document["htpasswd"] = str(data_dir.htpasswd)
    return document


def default_config(data_dir: DataDir, environ: Mapping[str, str] | None = None) -> Config:
    return parse_config(default_config_document(data_dir), environ=environ)


def bootstrap_admin(accounts: AccountService) -> str | None:
    """On an empty database, create ``admin`` (a regauth administrator with the admin role on
    every repository) with a random password, and return that password, once."""
    if accounts.count_users() > 0:
        return None
    password = secrets.token_urlsafe(18)
    accounts.create_user(ADMIN_USER, password=password, is_admin=True)
    accounts.add_grant(user=ADMIN_USER, pattern="*", role="admin", created_by="regauth")
    return password
