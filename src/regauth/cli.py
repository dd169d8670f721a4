"""The ``regauth`` command. Heavy modules are imported inside commands so ``--help`` is quick.

Exit status: 0 success, 1 a negative answer (``policy explain`` found a denial), 2 bad input or
configuration (one line naming the problem on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from regauth.config import Config
    from regauth.datadir import DataDir

EXIT_DENIED = 1
EXIT_USAGE = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="REGAUTH_CONFIG",
    default=None,
    help="Configuration file (YAML). Without it, the built-in defaults. Env: REGAUTH_CONFIG.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="REGAUTH_DATA_DIR",
    default=None,
    help="Folder for generated keys and state (default ./regauth-data). Env: REGAUTH_DATA_DIR.",
)


def fail(message: str) -> NoReturn:
    click.echo(f"regauth: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _load(config_path: Path | None, data_dir: Path | None) -> tuple[Config, DataDir]:
    from regauth.config import ConfigError
    from regauth.datadir import DataDir
    from regauth.serve import load_effective_config

    directory = DataDir.resolve(data_dir)
    if config_path is not None and not config_path.exists():
        fail(f"config file not found: {config_path}")
    try:
        return load_effective_config(config_path, directory), directory
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"regauth: config error: {problem}", err=True)
        sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="regauth")
def main() -> None:
    """regauth: token authentication for Docker/OCI registries."""


@main.command()
@config_option
@data_dir_option
@click.option("--listen", help="host:port to listen on (overrides server.listen).")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Worker processes (default: the number of CPU cores).",
)
def serve(
    config_path: Path | None, data_dir: Path | None, listen: str | None, workers: int | None
) -> None:
    """Run the token server."""
    from regauth.runtime import StartupError
    from regauth.serve import ServeOptions, run

    if listen is not None:
        os.environ["REGAUTH_SERVER__LISTEN"] = listen
    config, directory = _load(config_path, data_dir)
    try:
        directory.ensure()
    except Exception as exc:  # reported as one line, never a traceback
        fail(str(exc))
    admin_password = directory.ensure_admin() if config_path is None else None
    options = ServeOptions(config_path, directory, workers or os.cpu_count() or 1)
    try:
        run(options, config, admin_password)
    except StartupError as exc:
        fail(str(exc))


@main.command("check-config")
@config_option
@data_dir_option
def check_config(config_path: Path | None, data_dir: Path | None) -> None:
    """Validate a configuration and report what it sets up (exit 0, or 2 on a problem)."""
    from regauth.runtime import StartupError, check_runtime

    config, directory = _load(config_path, data_dir)
    try:
        summary = check_runtime(config, directory)
    except StartupError as exc:
        fail(f"config error: {exc}")
    click.echo(f"configuration OK: {config_path or 'built-in defaults'}")
    for line in summary:
        click.echo(f"  {line}")


@main.group()
def policy() -> None:
    """Inspect the access policy."""


def _parse_labels(values: tuple[str, ...]) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--label")
        labels.setdefault(key, []).append(value)
    return labels


@policy.command()
@config_option
@data_dir_option
@click.option("--account", required=True, help='Account name ("" for anonymous).')
@click.option("--label", "labels", multiple=True, help="A label KEY=VALUE (repeatable).")
@click.option("--service", default=None, help="Service (default: the first configured).")
@click.option("--ip", "client_ip", default=None, help="Client address, for ip rules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("scopes", nargs=-1, required=True)
def explain(
    config_path: Path | None,
    data_dir: Path | None,
    account: str,
    labels: tuple[str, ...],
    service: str | None,
    client_ip: str | None,
    as_json: bool,
    scopes: tuple[str, ...],
) -> None:
    """Show, per SCOPE, what ACCOUNT is granted and denied and which rule decided.

    Exit status 0 when everything asked for is granted, 1 when anything is denied, 2 on bad
    input. Labels of a static user in the configuration are included automatically.
    """
    import asyncio

    from regauth.explain import explain_scopes
    from regauth.protocol.errors import ProtocolError

    config, _ = _load(config_path, data_dir)
    try:
        report = asyncio.run(
            explain_scopes(
                config,
                account=account,
                labels=_parse_labels(labels),
                service=service,
                client_ip=client_ip,
                scopes=scopes,
            )
        )
    except ProtocolError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report.render())
    sys.exit(0 if report.all_granted else EXIT_DENIED)


@main.command("registry-config")
@config_option
@data_dir_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["yaml", "env", "compose"]),
    default="yaml",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the certificate bundle and JWKS (default: the data folder).",
)
@click.option("--service", default=None, help="Service to configure (default: the first).")
def registry_config(
    config_path: Path | None,
    data_dir: Path | None,
    output_format: str,
    out: Path | None,
    service: str | None,
) -> None:
    """Print the registry's auth.token settings and write the files it must trust."""
    from regauth import registry_config as rc
    from regauth.runtime import StartupError, load_keys

    config, directory = _load(config_path, data_dir)
    if service is not None and service not in config.token.service:
        fail(f"--service {service!r} is not one of token.service: {config.token.service}")
    try:
        key = load_keys(config, directory)
    except StartupError as exc:
        fail(str(exc))
    target = (out or directory.path).resolve()
    if output_format == "compose":
        compose, _ = rc.write_compose_project(
            config,
            key,
            target,
            data_dir=directory.path,
            config_file=config_path,
            service=service,
        )
        click.echo(compose.read_text(encoding="utf-8"), nl=False)
        click.echo(
            f"# written: {compose}, {target / 'registry-config.yml'}, {target / 'certs'}/", err=True
        )
        return
    bundle, jwks = rc.write_trust_files(key, target)
    settings = rc.settings_for(config, bundle, jwks, service)
    click.echo(
        rc.render_env(settings) if output_format == "env" else rc.render_yaml(settings), nl=False
    )


@main.command("hash-password")
@click.option(
    "--cost", type=click.IntRange(4, 31), default=10, show_default=True, help="bcrypt cost."
)
@click.option("--user", default=None, help="Print an htpasswd line USER:HASH instead.")
def hash_password(cost: int, user: str | None) -> None:
    """Read a password from stdin (or a prompt) and print its bcrypt hash."""
    from regauth.authn.passwords import hash_password_bcrypt

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("empty password")
    if len(password.encode()) > 72:
        fail("password longer than 72 bytes: bcrypt would ignore the rest")
    if user is not None and (":" in user or not user):
        fail("--user must be non-empty and must not contain ':'")
    hashed = hash_password_bcrypt(password.encode(), cost)
    click.echo(f"{user}:{hashed}" if user else hashed)
