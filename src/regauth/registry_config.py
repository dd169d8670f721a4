"""The registry side of the setup: its ``auth.token`` settings and the files it must trust.

Three renderings, like Keycloak's "Installation" tab: a ``config.yml`` fragment, environment
variables (``REGISTRY_AUTH_TOKEN_*``), and a docker-compose project with ``registry:2`` and
regauth wired together. With ``registry.notification_secret`` set, each also carries the
registry's ``notifications:`` section, so it sends its events to regauth from its first start.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from regauth.config import Config
from regauth.keys import BUNDLE_FILE, JWKS_FILE, write_public, write_trust_files
from regauth.keys.files import write_private

__all__ = [
    "NotificationSettings",
    "RegistryAuthSettings",
    "notification_settings",
    "render_compose",
    "render_env",
    "render_yaml",
    "settings_for",
    "write_trust_files",
]

CONTAINER_DATA_DIR = "/var/lib/regauth"
CONTAINER_CONFIG_DIR = "/etc/regauth"
CONTAINER_TRUST_DIR = "/var/lib/regauth-trust"
#: the image name the compose project builds or expects
IMAGE = "regauth:latest"


@dataclass(frozen=True)
class RegistryAuthSettings:
    realm: str
    service: str
    issuer: str
    rootcertbundle: str
    jwks: str

    def token_section(self) -> dict[str, str]:
        return {
            "realm": self.realm,
            "service": self.service,
            "issuer": self.issuer,
            "rootcertbundle": self.rootcertbundle,
            "jwks": self.jwks,
        }


@dataclass(frozen=True)
class NotificationSettings:
    """The registry's endpoint for regauth: where to POST events, with the secret header."""

    url: str
    secret: str
    name: str = "regauth"
    timeout: str = "5s"
    #: failures before the registry waits ``backoff`` between retries (it retries forever)
    threshold: int = 5
    backoff: str = "1s"

    def endpoint(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "headers": {"Authorization": [f"Bearer {self.secret}"]},
            "timeout": self.timeout,
            "threshold": self.threshold,
            "backoff": self.backoff,
        }

    def section(self) -> dict[str, Any]:
        return {"endpoints": [self.endpoint()]}


def notification_settings(
    config: Config, base_url: str | None = None
) -> NotificationSettings | None:
    """The notifications endpoint, when ``registry.notification_secret`` is set; ``base_url``
    is regauth's address as the registry reaches it (default: ``server.public_url``)."""
    secret = config.registry.notification_secret
    if secret is None:
        return None
    base = base_url if base_url is not None else config.server.base_url()
    return NotificationSettings(url=f"{base}/registry/events", secret=secret.reveal())


def settings_for(
    config: Config, bundle: Path | str, jwks: Path | str, service: str | None = None
) -> RegistryAuthSettings:
    return RegistryAuthSettings(
        realm=config.server.realm(),
        service=service or config.token.service[0],
        issuer=config.token.issuer,
        rootcertbundle=str(bundle),
        jwks=str(jwks),
    )


def render_yaml(
    settings: RegistryAuthSettings, notifications: NotificationSettings | None = None
) -> str:
    header = (
        "# Registry config.yml section for regauth. rootcertbundle is used by registry 2.x and\n"
        "# 3.x; jwks only by registry 3.x (2.x ignores it).\n"
    )
    document: dict[str, Any] = {"auth": {"token": settings.token_section()}}
    if notifications is not None:
        header += "# notifications: the registry sends its events to regauth (keep it secret).\n"
        document["notifications"] = notifications.section()
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def render_env(
    settings: RegistryAuthSettings, notifications: NotificationSettings | None = None
) -> str:
    lines = [
        f"REGISTRY_AUTH_TOKEN_{key.upper()}={value}\n"
        for key, value in settings.token_section().items()
    ]
    if notifications is not None:
        # the registry reads a variable that names a whole field as YAML: the endpoint list
        # fits in one value (JSON is YAML), quoted for a shell or a systemd EnvironmentFile
        endpoints = json.dumps([notifications.endpoint()], separators=(",", ":"))
        lines.append(
            "# the notifications endpoint list, as YAML in one variable (quoted for a shell;\n"
            "# docker --env-file keeps quotes: drop them there)\n"
        )
        lines.append(f"REGISTRY_NOTIFICATIONS_ENDPOINTS={shlex.quote(endpoints)}\n")
    return "".join(lines)


def registry_config_document(
    settings: RegistryAuthSettings, notifications: NotificationSettings | None = None
) -> dict[str, Any]:
    """A complete registry config.yml for the compose project."""
    document: dict[str, Any] = {
        "version": 0.1,
        "log": {"fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": "/var/lib/registry"},
            "delete": {"enabled": True},
        },
        "http": {"addr": ":5000", "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"token": settings.token_section()},
    }
    if notifications is not None:
        document["notifications"] = notifications.section()
    return document


def render_compose(
    config: Config,
    *,
    config_file: Path | None,
    build_context: Path | None = None,
) -> str:
    """docker-compose.yaml running ``registry:2`` and regauth side by side.

    regauth keeps its data in the named volume ``regauth-data`` (docker and podman give a new
    named volume the owner of the image's folder, so the image's user can write it) and puts
    the files the registry trusts into ``regauth-trust`` at every start (the image's entrypoint,
    ``REGAUTH_TRUST_DIR``); the registry mounts that volume read-only and starts once regauth
    answers its health check.
    """
    _, port = config.server.host_port
    health = f"http://127.0.0.1:{port}{config.server.path_prefix}/healthz"
    environment = {"REGAUTH_DATA_DIR": CONTAINER_DATA_DIR, "REGAUTH_TRUST_DIR": CONTAINER_TRUST_DIR}
    volumes = [f"regauth-data:{CONTAINER_DATA_DIR}", f"regauth-trust:{CONTAINER_TRUST_DIR}"]
    if config_file is not None:
        environment["REGAUTH_CONFIG"] = f"{CONTAINER_CONFIG_DIR}/{config_file.name}"
        volumes.append(f"{config_file.resolve().parent}:{CONTAINER_CONFIG_DIR}:ro")
    regauth: dict[str, Any] = {"image": IMAGE}
    if build_context is not None:
        regauth["build"] = {"context": str(build_context)}
    regauth |= {
        "command": ["regauth", "serve", "--listen", f"0.0.0.0:{port}"],
        "environment": environment,
        "ports": [f"{port}:{port}"],
        "volumes": volumes,
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen({health!r}, timeout=3)",
            ],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "30s",
        },
        "restart": "unless-stopped",
    }
    document = {
        "services": {
            "regauth": regauth,
            "registry": {
                "image": "registry:2",
                "ports": ["5000:5000"],
                "volumes": [
                    "./registry-config.yml:/etc/docker/registry/config.yml:ro",
                    "regauth-trust:/certs:ro",
                    "registry-data:/var/lib/registry",
                ],
                "depends_on": {"regauth": {"condition": "service_healthy"}},
                "restart": "unless-stopped",
            },
        },
        "volumes": {"registry-data": {}, "regauth-data": {}, "regauth-trust": {}},
    }
    build = (
        f"# `docker compose up --build` builds the regauth image from {build_context}.\n"
        if build_context is not None
        else f"# Build the regauth image from its source tree first: docker build -t {IMAGE} .\n"
    )
    header = (
        "# regauth + registry:2, generated by `regauth registry-config --format compose`.\n"
        + build
        + "# Works with docker compose and podman compose. regauth prints the admin password\n"
        "# once, at its first start: docker compose logs regauth. Clients log in to\n"
        "# localhost:5000.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def source_tree() -> Path | None:
    """The checkout regauth runs from, if it is one (it holds the Dockerfile)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "Dockerfile").is_file() and (root / "src" / "regauth").is_dir() else None


def write_compose_project(
    config: Config,
    out_dir: Path,
    *,
    config_file: Path | None,
    service: str | None = None,
) -> tuple[Path, RegistryAuthSettings]:
    """Write docker-compose.yaml and registry-config.yml into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    container_settings = settings_for(
        config, f"/certs/{BUNDLE_FILE}", f"/certs/{JWKS_FILE}", service
    )
    _, port = config.server.host_port
    # the registry reaches regauth by its service name on the project's network
    scheme = "https" if config.server.tls else "http"
    notifications = notification_settings(
        config, f"{scheme}://regauth:{port}{config.server.path_prefix}"
    )
    document = yaml.safe_dump(
        registry_config_document(container_settings, notifications), sort_keys=False
    ).encode()
    # with the notification secret in it, only its owner reads the file
    (write_private if notifications is not None else write_public)(
        out_dir / "registry-config.yml", document
    )
    compose = out_dir / "docker-compose.yaml"
    write_public(
        compose,
        render_compose(config, config_file=config_file, build_context=source_tree()).encode(),
    )
    return compose, container_settings
