"""``regauth registry-config --format helm|kubernetes``: its options and its output."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from regauth.cli.common import fail

if TYPE_CHECKING:
    from regauth.config import Config
    from regauth.keys import SigningKey

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULTS: dict[str, Any] = {
    "namespace": None,
    "image": "regauth:latest",
    "replicas": 1,
    "database_url_secret": None,
}


def kubernetes_options(function: F) -> F:
    """The options of the helm and kubernetes formats."""
    for decorator in reversed(
        [
            click.option("--namespace", help="Namespace of the manifests (helm, kubernetes)."),
            click.option(
                "--image",
                default=_DEFAULTS["image"],
                show_default=True,
                help="regauth's image, as your cluster pulls it (kubernetes).",
            ),
            click.option(
                "--replicas",
                type=click.IntRange(1, 100),
                default=1,
                show_default=True,
                help="Pods (kubernetes); more than one needs PostgreSQL.",
            ),
            click.option(
                "--database-url-secret",
                metavar="SECRET",
                help="A Secret whose key 'url' holds the PostgreSQL URL (kubernetes).",
            ),
        ]
    ):
        function = decorator(function)
    return function


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (it holds secrets), replacing ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _yaml_documents(documents: Sequence[Any]) -> str:
    from regauth.deployment.documents import dump_documents

    return dump_documents(documents)


def check_kubernetes_options(output_format: str, options: dict[str, Any]) -> None:
    """Options of the kubernetes format given with another format are an error."""
    allowed = {"kubernetes": set(_DEFAULTS), "helm": {"namespace"}}.get(output_format, set())
    for name, value in options.items():
        if value != _DEFAULTS[name] and name not in allowed:
            option = "--" + name.replace("_", "-")
            fail(f"{option} applies to --format kubernetes, not {output_format}")


def write_kubernetes_output(
    output_format: str,
    config: Config,
    config_path: Path | None,
    keys: Sequence[SigningKey],
    target: Path,
    service: str | None,
    options: dict[str, Any],
) -> None:
    if output_format == "helm":
        _helm(config, keys, target, service, options)
    else:
        _kubernetes(config, config_path, options)


def _helm(
    config: Config,
    keys: Sequence[SigningKey],
    target: Path,
    service: str | None,
    options: dict[str, Any],
) -> None:
    from regauth import registry_config as rc
    from regauth.deployment import HelmNames, render_secrets, render_values
    from regauth.deployment.helm import TRUST_DIR

    bundle, jwks = rc.write_trust_files(keys, target)
    settings = rc.settings_for(
        config, f"{TRUST_DIR}/{bundle.name}", f"{TRUST_DIR}/{jwks.name}", service
    )
    names = HelmNames(namespace=options["namespace"])
    secrets_file = target / "registry-secrets.yaml"
    secrets = render_secrets(
        config, names, bundle.read_text(encoding="utf-8"), jwks.read_text(encoding="utf-8")
    )
    _write_private(secrets_file, _yaml_documents(secrets))
    header = (
        "# Values for the twuni docker-registry chart, from `regauth registry-config --format "
        "helm`.\n"
        f"# First: kubectl apply -f {secrets_file}\n"
        "# Then:  helm upgrade --install registry twuni/docker-registry -f THIS-FILE\n"
    )
    click.echo(header + _yaml_documents([render_values(config, settings, names)]), nl=False)
    click.echo(f"# written: {secrets_file} (mode 600), {bundle}, {jwks}", err=True)


def _kubernetes(config: Config, config_path: Path | None, options: dict[str, Any]) -> None:
    import yaml

    from regauth.deployment import KubernetesOptions, render_manifests, split_config
    from regauth.deployment import uses_postgresql as on_postgresql

    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if config_path is not None:
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        raw = loaded if isinstance(loaded, dict) else {}
        base_dir = config_path.resolve().parent
    kube = KubernetesOptions(
        namespace=options["namespace"],
        image=options["image"],
        replicas=options["replicas"],
        database_url_secret=options["database_url_secret"],
    )
    if kube.replicas > 1 and not on_postgresql(config, kube):
        fail(
            f"--replicas {kube.replicas} needs PostgreSQL (SQLite serves one pod): give "
            "--database-url-secret SECRET or a postgresql:// database.url"
        )
    try:
        split = split_config(raw, base_dir)
    except OSError as exc:
        fail(f"cannot read {exc.filename}: {exc.strerror}")
    for variable in split.missing_environment:
        click.echo(
            f"# note: the configuration reads ${variable}, which is not set here: add it to "
            f"the Secret {kube.name}-secrets",
            err=True,
        )
    click.echo(
        "# regauth on Kubernetes, from `regauth registry-config --format kubernetes`.\n"
        "# Holds Secrets: kubectl apply -f THIS-FILE; keep it out of version control.\n"
        + _yaml_documents(render_manifests(config, kube, split)),
        nl=False,
    )
