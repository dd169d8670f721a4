"""Kubernetes manifests for regauth itself: Deployment, Service, ConfigMap and Secrets.

One replica keeps SQLite on a PersistentVolumeClaim (and is replaced, never doubled: the
Deployment's strategy is ``Recreate``); several replicas need PostgreSQL, its URL read from a
Secret (``REGAUTH_DATABASE__URL``) or from the configuration (moved into a Secret). The pod runs
as a fixed non-root user with a read-only root file system: the data folder and ``/tmp`` (the
metrics files of the workers) are the only writable places.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from regauth.config import Config
from regauth.deployment.config_secrets import FILES_DIR, SplitConfig

__all__ = [
    "CONFIG_DIR",
    "DATA_DIR",
    "RUN_AS",
    "KubernetesOptions",
    "render_manifests",
    "uses_postgresql",
]

#: the user and group the image runs as (the Dockerfile's ``regauth``)
RUN_AS = 10001
DATA_DIR = "/var/lib/regauth"
CONFIG_DIR = "/etc/regauth/config"
CONFIG_FILE = "regauth.yaml"


@dataclass(frozen=True)
class KubernetesOptions:
    name: str = "regauth"
    namespace: str | None = None
    image: str = "regauth:latest"
    replicas: int = 1
    #: a Secret (key ``url``) with the PostgreSQL URL, instead of ``database.url``
    database_url_secret: str | None = None
    #: worker processes per pod
    workers: int = 2
    storage: str = "1Gi"


def uses_postgresql(config: Config, options: KubernetesOptions) -> bool:
    if options.database_url_secret is not None:
        return True
    url = config.database.url
    return url is not None and url.reveal().startswith(("postgres", "postgresql"))


def _metadata(options: KubernetesOptions, suffix: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": options.name + suffix,
        "labels": {"app.kubernetes.io/name": "regauth", "app.kubernetes.io/instance": options.name},
    }
    if options.namespace:
        metadata["namespace"] = options.namespace
    return metadata


def _container(config: Config, options: KubernetesOptions, split: SplitConfig) -> dict[str, Any]:
    _, port = config.server.host_port
    probe = {
        "httpGet": {
            "path": f"{config.server.path_prefix}/healthz",
            "port": "http",
            "scheme": "HTTPS" if config.server.tls else "HTTP",
        },
        "periodSeconds": 10,
        "timeoutSeconds": 3,
    }
    env: list[dict[str, Any]] = []
    if options.database_url_secret is not None:
        env.append(
            {
                "name": "REGAUTH_DATABASE__URL",
                "valueFrom": {"secretKeyRef": {"name": options.database_url_secret, "key": "url"}},
            }
        )
    mounts = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "data", "mountPath": DATA_DIR},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir of the pod's own
    ]
    if split.files:
        mounts.append({"name": "files", "mountPath": FILES_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": "regauth",
        "image": options.image,
        "args": [
            "regauth",
            "serve",
            "--config",
            f"{CONFIG_DIR}/{CONFIG_FILE}",
            "--data-dir",
            DATA_DIR,
            "--workers",
            str(options.workers),
        ],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "startupProbe": {**probe, "failureThreshold": 30, "periodSeconds": 2},
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 3},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
    if split.environment:
        container["envFrom"] = [{"secretRef": {"name": f"{options.name}-secrets"}}]
    return container


def _deployment(
    config: Config, options: KubernetesOptions, split: SplitConfig, postgresql: bool
) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{options.name}-config"}},
        (
            {"name": "data", "emptyDir": {}}
            if postgresql
            else {"name": "data", "persistentVolumeClaim": {"claimName": f"{options.name}-data"}}
        ),
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    if split.files:
        volumes.append(
            {
                "name": "files",
                "secret": {"secretName": f"{options.name}-files", "defaultMode": 0o440},
            }
        )
    selector = {"app.kubernetes.io/name": "regauth", "app.kubernetes.io/instance": options.name}
    _, port = config.server.host_port
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(options),
        "spec": {
            "replicas": options.replicas,
            # SQLite on a ReadWriteOnce volume: the old pod goes before the new one starts
            "strategy": {"type": "RollingUpdate" if postgresql else "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": selector,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": f"{config.server.path_prefix}/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(config, options, split)],
                    "volumes": volumes,
                },
            },
        },
    }


def render_manifests(
    config: Config, options: KubernetesOptions, split: SplitConfig
) -> list[dict[str, Any]]:
    """Every manifest, in the order ``kubectl apply`` should create them."""
    postgresql = uses_postgresql(config, options)
    _, port = config.server.host_port
    document = dict(split.document)
    server = dict(document.get("server") or {})
    server["listen"] = f"0.0.0.0:{port}"
    if config.server.public_url is not None:
        server["public_url"] = config.server.public_url
    document["server"] = server
    if options.database_url_secret is not None and isinstance(document.get("database"), dict):
        database = {
            k: v for k, v in document["database"].items() if k not in ("url", "url_env", "url_file")
        }
        document["database"] = database
        split.environment.pop("REGAUTH_SECRET_DATABASE_URL", None)
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(options, "-config"),
            "data": {CONFIG_FILE: yaml.safe_dump(document, sort_keys=False)},
        }
    ]
    if split.environment:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _metadata(options, "-secrets"),
                "type": "Opaque",
                "stringData": dict(sorted(split.environment.items())),
            }
        )
    if split.files:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _metadata(options, "-files"),
                "type": "Opaque",
                "data": {name: _base64(content) for name, content in sorted(split.files.items())},
            }
        )
    if not postgresql:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": _metadata(options, "-data"),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": options.storage}},
                },
            }
        )
    manifests.append(_deployment(config, options, split, postgresql))
    manifests.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(options),
            "spec": {
                "selector": {
                    "app.kubernetes.io/name": "regauth",
                    "app.kubernetes.io/instance": options.name,
                },
                "ports": [{"name": "http", "port": port, "targetPort": "http"}],
            },
        }
    )
    return manifests


def _base64(content: bytes) -> str:
    import base64

    return base64.b64encode(content).decode("ascii")
