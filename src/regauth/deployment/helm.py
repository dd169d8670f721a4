"""Values for the twuni ``docker-registry`` Helm chart, and the Secrets they refer to.

What the chart reads (its ``values.yaml`` and ``templates/deployment.yaml``):

- ``configData`` becomes the registry's ``config.yml`` (Helm merges it into the chart's own
  defaults, so only ``auth.token`` is given here);
- ``extraVolumes`` and ``extraVolumeMounts`` are added to the pod and the registry container:
  the Secret holding ``bundle.pem`` and ``jwks.json`` is mounted at :data:`TRUST_DIR`;
- ``extraEnvVars`` are added to the registry container: with ``registry.notification_secret``
  configured, ``REGISTRY_NOTIFICATIONS_ENDPOINTS`` comes from a Secret (the registry reads the
  whole endpoint list from that variable), so the shared secret never sits in the chart's
  ConfigMap.
"""

from __future__ import annotations

import json
from typing import Any

from regauth.config import Config
from regauth.registry_config import RegistryAuthSettings, notification_settings

__all__ = [
    "NOTIFICATIONS_KEY",
    "TRUST_DIR",
    "HelmNames",
    "notification_endpoints",
    "render_secrets",
    "render_values",
]

#: where the registry container sees the certificate bundle and the JWKS
TRUST_DIR = "/etc/regauth-trust"
NOTIFICATIONS_KEY = "endpoints"


class HelmNames:
    """The names of the Secrets the values refer to."""

    def __init__(self, prefix: str = "regauth", namespace: str | None = None) -> None:
        self.trust = f"{prefix}-registry-trust"
        self.notifications = f"{prefix}-registry-notifications"
        self.namespace = namespace


def notification_endpoints(config: Config) -> list[dict[str, Any]] | None:
    """The registry's ``notifications.endpoints`` for regauth, when a secret is configured
    (the same endpoint every other ``registry-config`` format prints)."""
    settings = notification_settings(config)
    return None if settings is None else [settings.endpoint()]


def render_values(
    config: Config, settings: RegistryAuthSettings, names: HelmNames
) -> dict[str, Any]:
    """The chart values (``settings`` with paths under :data:`TRUST_DIR`)."""
    values: dict[str, Any] = {
        "configData": {"auth": {"token": settings.token_section()}},
        "extraVolumes": [{"name": "regauth-trust", "secret": {"secretName": names.trust}}],
        "extraVolumeMounts": [{"name": "regauth-trust", "mountPath": TRUST_DIR, "readOnly": True}],
    }
    if config.registry.notification_secret is not None:
        values["extraEnvVars"] = [
            {
                "name": "REGISTRY_NOTIFICATIONS_ENDPOINTS",
                "valueFrom": {
                    "secretKeyRef": {"name": names.notifications, "key": NOTIFICATIONS_KEY}
                },
            }
        ]
    return values


def _secret(name: str, namespace: str | None, data: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "regauth"}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": data,
    }


def render_secrets(
    config: Config, names: HelmNames, bundle: str, jwks: str
) -> list[dict[str, Any]]:
    """The Secrets the values mount: the trust files, and the notification endpoint."""
    secrets = [_secret(names.trust, names.namespace, {"bundle.pem": bundle, "jwks.json": jwks})]
    endpoints = notification_endpoints(config)
    if endpoints is not None:
        secrets.append(
            _secret(
                names.notifications,
                names.namespace,
                {NOTIFICATIONS_KEY: json.dumps(endpoints, separators=(",", ":"))},
            )
        )
    return secrets
