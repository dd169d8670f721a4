"""Running and wiring the server: serve, check-config, policy explain, registry-config,
hash-password."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from regauth.config import Config

from regauth.cli.common import EXIT_DENIED, fail, load, main, state_options
from regauth.cli.kubernetes import (
    check_kubernetes_options,
    kubernetes_options,
    write_kubernetes_output,
)


@main.command()
@state_options
@click.option("--listen", help="host:port to listen on (overrides server.listen).")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Worker processes (default: the number of CPU cores).",
)
@click.option(
    "--upgrade",
    is_flag=True,
    help="Apply pending database migrations instead of refusing to start.",
)
def serve(
    config_path: Path | None,
    data_dir: Path | None,
    listen: str | None,
    workers: int | None,
    upgrade: bool,
) -> None:
    """Run the token server."""
    from regauth.runtime import StartupError
    from regauth.serve import ServeOptions, listen_problem, run

    if listen is not None:
        os.environ["REGAUTH_SERVER__LISTEN"] = listen
    config, directory = load(config_path, data_dir)
    problem = listen_problem(config.server)  # before any folder, user or line is made
    if problem is not None:
        fail(problem)
    try:
        directory.ensure()
    except Exception as exc:  # reported as one line, never a traceback
        fail(str(exc))
    options = ServeOptions(config_path, directory, workers or os.cpu_count() or 1, upgrade)
    try:
        run(options, config)
    except StartupError as exc:
        fail(str(exc))


@main.command("check-config")
@state_options
def check_config(config_path: Path | None, data_dir: Path | None) -> None:
    """Validate a configuration and report what it sets up (exit 0, or 2 on a problem)."""
    from regauth.runtime import StartupError, check_runtime

    config, directory = load(config_path, data_dir)
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
@state_options
@click.option("--account", required=True, help='Account name ("" for anonymous).')
@click.option("--label", "labels", multiple=True, help="A label KEY=VALUE (repeatable).")
@click.option("--group", "groups", multiple=True, help="A group the account is in (repeatable).")
@click.option("--service", default=None, help="Service (default: the first configured).")
@click.option("--ip", "client_ip", default=None, help="Client address, for ip rules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("scopes", nargs=-1, required=True)
def explain(
    config_path: Path | None,
    data_dir: Path | None,
    account: str,
    labels: tuple[str, ...],
    groups: tuple[str, ...],
    service: str | None,
    client_ip: str | None,
    as_json: bool,
    scopes: tuple[str, ...],
) -> None:
    """Show, per SCOPE, what ACCOUNT is granted and denied and which rule decided.

    Exit status 0 when everything asked for is granted, 1 when anything is denied, 2 on bad
    input. Labels of a static user in the configuration, and the groups and admin flag of a
    database user, are included automatically. Robots are named robot+NAME.
    """
    import asyncio

    from regauth.explain import explain_scopes
    from regauth.protocol.errors import ProtocolError
    from regauth.runtime import StartupError

    config, directory = load(config_path, data_dir)
    try:
        report = asyncio.run(
            explain_scopes(
                config,
                directory,
                account=account,
                labels=_parse_labels(labels),
                groups=groups,
                service=service,
                client_ip=client_ip,
                scopes=scopes,
            )
        )
    except ProtocolError as exc:
        fail(exc.message)
    except (ValueError, StartupError) as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report.render())
    sys.exit(0 if report.all_granted else EXIT_DENIED)


@main.command("registry-config")
@state_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["yaml", "env", "compose", "helm", "kubernetes"]),
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
@click.option("--listen", help="host:port regauth listens on, as given to serve.")
@click.option("--public-url", help="URL clients reach regauth at (overrides server.public_url).")
@kubernetes_options
def registry_config(
    config_path: Path | None,
    data_dir: Path | None,
    output_format: str,
    out: Path | None,
    service: str | None,
    listen: str | None,
    public_url: str | None,
    **kubernetes: Any,
) -> None:
    """Print the registry's auth.token settings and write the files it must trust (every
    published signing key); with registry.notification_secret set, its notifications section
    too (the registry then sends its events to regauth)."""
    from regauth import registry_config as rc
    from regauth.cli.keys import published_keys

    config, directory = load(config_path, data_dir)
    config = _with_address(config, listen, public_url)
    if service is not None and service not in config.token.service:
        fail(f"--service {service!r} is not one of token.service: {config.token.service}")
    check_kubernetes_options(output_format, kubernetes)
    source = _realm_source(config, listen, public_url)
    click.echo(f"# realm {config.server.realm()} ({source})", err=True)
    keys = [] if output_format in ("kubernetes", "compose") else published_keys(config, directory)
    target = (out or directory.path).resolve()
    if output_format in ("helm", "kubernetes"):
        write_kubernetes_output(
            output_format, config, config_path, keys, target, service, kubernetes
        )
        return
    if output_format == "compose":
        compose, _ = rc.write_compose_project(
            config, target, config_file=config_path, service=service
        )
        click.echo(compose.read_text(encoding="utf-8"), nl=False)
        click.echo(f"# written: {compose}, {target / 'registry-config.yml'}", err=True)
        return
    bundle, jwks = rc.write_trust_files(keys, target)
    settings = rc.settings_for(config, bundle, jwks, service)
    notifications = rc.notification_settings(config)
    render = rc.render_env if output_format == "env" else rc.render_yaml
    click.echo(render(settings, notifications), nl=False)


def _with_address(config: Config, listen: str | None, public_url: str | None) -> Config:
    """``config`` with ``--listen`` and ``--public-url`` applied, as ``serve`` applies them."""
    from pydantic import ValidationError

    from regauth.config.server import ServerConfig

    changes = {k: v for k, v in (("listen", listen), ("public_url", public_url)) if v is not None}
    if not changes:
        return config
    try:
        server = ServerConfig.model_validate({**config.server.model_dump(), **changes})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        option = str(error["loc"][0]).replace("_", "-") if error["loc"] else "listen"
        fail(f"--{option}: {error['msg'].removeprefix('Value error, ')}")
    return config.model_copy(update={"server": server})


def _realm_source(config: Config, listen: str | None, public_url: str | None) -> str:
    """Which setting the realm's address came from, as one phrase."""
    if public_url is not None:
        return "from --public-url"
    if config.server.public_url is not None:
        return "from server.public_url"
    if listen is not None:
        return f"from --listen {listen}"
    return (
        f"from server.listen {config.server.listen}; give --listen or --public-url "
        "(server.public_url) if clients reach regauth elsewhere"
    )


@main.command("hash-password")
@click.option(
    "--cost", type=click.IntRange(4, 31), default=10, show_default=True, help="bcrypt cost."
)
@click.option("--user", default=None, help="Print an htpasswd line USER:HASH instead.")
def hash_password(cost: int, user: str | None) -> None:
    """Read a password from stdin (or a prompt) and print its bcrypt hash."""
    from regauth.credentials.passwords import hash_password_bcrypt

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
