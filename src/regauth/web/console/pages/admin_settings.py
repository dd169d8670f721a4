"""``/admin/settings``: the effective configuration as YAML with every secret masked, and the
registry's side of the setup (``config.yml`` section, environment lines, compose project)
shown and offered for download (``/admin/settings/registry-config?format=yaml|env|compose``).

Masking: every secret field (:class:`~regauth.protocol.secret.Secret`: the database URL,
password hashes of static users, the directory's bind password, identity providers' client
secrets, the registry's notification secret) shows as ``***``, and, should a plain text field
ever carry one, any key naming a password, secret or token, and any ``user:password@`` in a
URL, is masked too. The registry configuration names the trust files ``regauth serve`` keeps
in the data folder; downloading it writes nothing.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import re
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.config import Config
from regauth.keys import BUNDLE_FILE, JWKS_FILE
from regauth.protocol.secret import Secret
from regauth.registry_config import (
    NotificationSettings,
    notification_settings,
    render_compose,
    render_env,
    render_yaml,
    settings_for,
)
from regauth.web.console.context import Console, PageError
from regauth.web.console.security import PAGE_HEADERS

__all__ = ["MASK", "effective_yaml", "masked", "routes"]

MASK = "***"
_SECRET_KEY = re.compile(r"password|secret", re.IGNORECASE)
#: the downloads: format -> (file name, media type)
DOWNLOADS = {
    "yaml": ("registry-auth.yml", "application/yaml"),
    "env": ("registry-auth.env", "text/plain"),
    "compose": ("docker-compose.yaml", "application/yaml"),
}


def _duration(value: datetime.timedelta) -> str:
    seconds = value.total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _without_url_password(text: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; other text as it is."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        has_password = parts.password is not None
    except ValueError:
        return text
    if not has_password:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def masked(value: Any, key: str = "") -> Any:
    """A configuration value as plain YAML data, with every secret replaced by ``***``."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {str(k): masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [masked(item, key) for item in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and value:
            return MASK
        return _without_url_password(value)
    if isinstance(value, datetime.timedelta):
        return _duration(value)
    if isinstance(value, PurePath | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    if isinstance(value, enum.Enum):
        return masked(value.value, key)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


#: what stands for ``registry.notification_secret`` in the registry configuration shown
SECRET_PLACEHOLDER = "REPLACE-WITH-registry.notification_secret"  # noqa: S105 - a placeholder


def effective_yaml(config: Config) -> str:
    document = masked(config.model_dump(mode="python"))
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def routes(console: Console) -> list[BaseRoute]:
    def registry_texts() -> dict[str, str]:
        config = console.runtime.config
        folder = console.runtime.data_dir.path
        settings = settings_for(config, folder / BUNDLE_FILE, folder / JWKS_FILE)
        notifications = notification_settings(config)
        if notifications is not None:
            # a page never shows the secret: `regauth registry-config` prints it
            notifications = NotificationSettings(url=notifications.url, secret=SECRET_PLACEHOLDER)
        return {
            "yaml": render_yaml(settings, notifications),
            "env": render_env(settings, notifications),
            "compose": render_compose(config, config_file=None),
        }

    async def settings(request: Request) -> Response:
        viewer = await console.require_admin(request)
        runtime = console.runtime
        return console.render(
            request,
            "admin/settings.html",
            viewer=viewer,
            active="admin-settings",
            effective=effective_yaml(runtime.config),
            database=runtime.database.display_url,
            data_dir=str(runtime.data_dir.path),
            registry=registry_texts(),
            downloads=DOWNLOADS,
        )

    async def registry_config(request: Request) -> Response:
        await console.require_admin(request)
        chosen = request.query_params.get("format", "yaml")
        if chosen not in DOWNLOADS:
            raise PageError(400, "Choose the format yaml, env or compose.")
        filename, media_type = DOWNLOADS[chosen]
        headers = {
            **PAGE_HEADERS,
            "content-disposition": f'attachment; filename="{filename}"',
        }
        return Response(
            registry_texts()[chosen], media_type=media_type + "; charset=utf-8", headers=headers
        )

    return [
        Route(console.route("/admin/settings"), settings, methods=["GET", "HEAD"]),
        Route(
            console.route("/admin/settings/registry-config"),
            registry_config,
            methods=["GET", "HEAD"],
        ),
    ]
