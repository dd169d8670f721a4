"""Deployment renderings beyond the registry's own files: values for the twuni
``docker-registry`` Helm chart (:mod:`.helm`) and Kubernetes manifests for regauth itself
(:mod:`.kubernetes`), with the configuration split so no secret sits in a ConfigMap
(:mod:`.config_secrets`)."""

from regauth.deployment.config_secrets import SplitConfig, split_config
from regauth.deployment.helm import HelmNames, render_secrets, render_values
from regauth.deployment.kubernetes import KubernetesOptions, render_manifests, uses_postgresql

__all__ = [
    "HelmNames",
    "KubernetesOptions",
    "SplitConfig",
    "render_manifests",
    "render_secrets",
    "render_values",
    "split_config",
    "uses_postgresql",
]
