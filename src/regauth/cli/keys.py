"""The ``regauth keys`` commands: list, add, activate, retire the token signing keys.

The keys are stored in the database (shared by every instance); each command rewrites the data
folder's ``bundle.pem`` and ``jwks.json`` with the keys published now, and every running worker
and instance follows a change on its next request. With ``token.key`` in the configuration the
key is not regauth's to manage, and every command refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from regauth.cli.common import (
    emit,
    fail,
    json_option,
    load,
    main,
    reports_account_errors,
    short_time,
    state_options,
)

if TYPE_CHECKING:
    from regauth.accounts.signing_keys import SigningKeys
    from regauth.config import Config
    from regauth.datadir import DataDir
    from regauth.keys import KeyInfo, KeyMaterial, SigningKey


@main.group()
def keys() -> None:
    """Token signing keys: add one, let the registries read it, activate it, retire the old."""


def _open(config_path: Path | None, data_dir: Path | None) -> tuple[Config, DataDir, SigningKeys]:
    from regauth.keyring import CONFIGURED_KEY_MESSAGE, key_store
    from regauth.runtime import StartupError, open_database

    config, directory = load(config_path, data_dir)
    if config.token.key is not None:
        fail(CONFIGURED_KEY_MESSAGE)
    try:
        database = open_database(config, directory)
    except StartupError as exc:
        fail(str(exc))
    return config, directory, key_store(config, database)


def _ensure(
    config: Config, directory: DataDir, store: SigningKeys, first: KeyMaterial | None = None
) -> None:
    from regauth.keyring import KeySetupError, ensure_keys

    try:
        ensure_keys(store, config, directory, first=first)
    except KeySetupError as exc:
        fail(str(exc))


def published_keys(config: Config, directory: DataDir) -> list[SigningKey]:
    """The keys the registry must trust now: the configured key, or the published managed
    keys (the first one made if there are none yet). Exit 2 on a problem."""
    from regauth.keyring import KeySetupError, configured_key, open_key_ring
    from regauth.runtime import StartupError, open_database

    try:
        if config.token.key is not None:
            return [configured_key(config, directory)]
        database = open_database(config, directory, create=True)  # as it did before serve
        try:
            ring, _ = open_key_ring(config, directory, database)
        finally:
            database.dispose()
    except (KeySetupError, StartupError) as exc:
        fail(str(exc))
    return ring.published()


def _write_trust_files(directory: DataDir, store: SigningKeys, done: str) -> Path:
    """Rewrite the data folder's bundle.pem and jwks.json with the keys published now."""
    from regauth.keys import KeyError_, KeyRing, KeySetError, write_trust_files

    try:
        ring = KeyRing.from_key_set(store.key_set(), store.settings)
        directory.ensure()
        write_trust_files(ring.published(), directory.path)
    except (KeySetError, KeyError_) as exc:
        fail(f"{done}, but the keys cannot be published: {exc}")
    except Exception as exc:  # the data folder: one line, never a traceback
        fail(f"{done}, but writing bundle.pem and jwks.json in {directory.path} failed: {exc}")
    return directory.path


def _published_text(info: KeyInfo) -> str:
    if info.published_until is None:
        return "published"
    until = short_time(info.as_dict()["published_until"])
    return f"published until {until}" if info.published else f"unpublished since {until}"


def _describe(info: KeyInfo) -> str:
    """Three lines per key: the IDs are too long for a table in a terminal."""
    data = info.as_dict()
    times = [f"created {short_time(data['created_at'])}"]
    for name in ("activated", "deactivated", "retired"):
        if data[f"{name}_at"] is not None:
            times.append(f"{name} {short_time(data[f'{name}_at'])}")
    return (
        f"{info.state:<10} {info.thumbprint}  {info.algorithm}\n"
        f"{'':<10} libtrust {info.libtrust_kid}\n"
        f"{'':<10} {', '.join(times)}; {_published_text(info)}"
    )


@keys.command("list")
@state_options
@json_option
@reports_account_errors
def keys_list(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """The signing keys, oldest first, and until when each is published (times in UTC)."""
    config, directory, store = _open(config_path, data_dir)
    _ensure(config, directory, store)
    infos = store.describe()
    _write_trust_files(directory, store, "listed the keys")
    heading = f"signing keys, oldest first (tokens carry the {config.token.kid} kid; UTC):"
    emit(
        [info.as_dict() for info in infos],
        as_json,
        lambda: click.echo("\n".join([heading, *(_describe(info) for info in infos)])),
    )


@keys.command("add")
@click.option(
    "--algorithm",
    type=click.Choice(["ES256", "RS256"]),
    default=None,
    help="For a new key (default: token.algorithm); an imported key must fit it.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Import this PEM private key instead of making a new one.",
)
@click.option(
    "--certificate",
    "cert_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Its PEM certificate chain, leaf first (default: a self-signed certificate).",
)
@state_options
@json_option
@reports_account_errors
def keys_add(
    algorithm: str | None,
    key_file: Path | None,
    cert_file: Path | None,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Add a key: published at once (bundle.pem, jwks.json), not signing until activated."""
    from regauth.keys import KeyError_, KeyMaterial, read_material

    if cert_file is not None and key_file is None:
        fail("--certificate needs --key (the private key it certifies)")
    config, directory, store = _open(config_path, data_dir)
    try:
        if key_file is not None:
            material = read_material(
                key_file,
                cert_file,
                algorithm=algorithm,
                key_name="--key",
                cert_name="--certificate",
            )
        else:
            material = KeyMaterial.generate(algorithm or config.token.algorithm)
    except KeyError_ as exc:
        fail(str(exc))
    if key_file is not None and material.leading_zero_coordinate:
        click.echo(
            "regauth: warning: an EC coordinate of this key starts with a zero byte: registry "
            "3.1 computes another thumbprint for it, so with kid: thumbprint and x5c: false it "
            "refuses its tokens unless given jwks.json",
            err=True,
        )
    was_empty = len(store.key_set()) == 0
    _ensure(config, directory, store, first=material if key_file is not None else None)
    if was_empty and material.thumbprint in store.key_set():
        info = next(i for i in store.describe() if i.thumbprint == material.thumbprint)
        first = True
    else:
        info = store.add(material)
        first = False
    done = f"added key {info.thumbprint}"
    folder = _write_trust_files(directory, store, done)
    if first:
        message = (
            f"{done} ({info.algorithm}) as the active signing key (there was none yet)\n"
            f"  libtrust kid: {info.libtrust_kid}\n"
            f"  bundle.pem and jwks.json rewritten in {folder}"
        )
    else:
        message = (
            f"{done} ({info.algorithm}): published, not signing yet\n"
            f"  libtrust kid: {info.libtrust_kid}\n"
            f"  bundle.pem and jwks.json rewritten in {folder}\n"
            "next: restart every registry so it reads them, then "
            f"`regauth keys activate {_kid_arg(info.thumbprint)}`"
        )
    emit(info.as_dict(), as_json, lambda: click.echo(message))


def _kid_arg(kid: str) -> str:
    """A KID as a command line argument: after ``--`` when it starts with ``-`` (an imported
    key's thumbprint may; regauth makes none that do)."""
    return f"-- {kid}" if kid.startswith("-") else kid


class _KidCommand(click.Command):
    """A command taking a KID: an unknown option is most likely a KID starting with ``-``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise click.UsageError(
                f"{exc.format_message()}; a KID that starts with - goes after --: "
                f"regauth keys {self.name} -- KID",
                ctx,
            ) from None


@keys.command("activate", cls=_KidCommand)
@click.argument("kid")
@state_options
@json_option
@reports_account_errors
def keys_activate(kid: str, config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Sign with the key KID from now on (a thumbprint, a libtrust ID or a unique prefix;
    put -- before one that starts with -).

    Every regauth worker and instance switches on its next request. The key signing until now
    stays published; retire it once the registries trust the new one.
    """
    config, directory, store = _open(config_path, data_dir)
    _ensure(config, directory, store)
    before = store.key_set().active
    info = store.activate(kid)
    done = f"key {info.thumbprint} activated"
    _write_trust_files(directory, store, done)
    lines = [f"{done}: it signs every token from each regauth process's next request on"]
    if before is not None and before.id != info.thumbprint:
        lines.append(
            f"the previous key {before.id} stays published: retire it with "
            f"`regauth keys retire {_kid_arg(before.id)}`"
        )
    emit(info.as_dict(), as_json, lambda: click.echo("\n".join(lines)))


@keys.command("retire", cls=_KidCommand)
@click.argument("kid")
@state_options
@json_option
@reports_account_errors
def keys_retire(kid: str, config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Retire the key KID: published until no token it signed can still be valid, then left
    out of bundle.pem and jwks.json. The active key cannot be retired. Put -- before a KID
    that starts with -."""
    config, directory, store = _open(config_path, data_dir)
    _ensure(config, directory, store)
    info = store.retire(kid)
    done = f"key {info.thumbprint} retired"
    folder = _write_trust_files(directory, store, done)
    if info.published:
        until = short_time(info.as_dict()["published_until"])
        text = (
            f"{done}: published until {until} UTC, when its last tokens have expired; the next "
            f"`regauth keys` command or start after that leaves it out of {folder}/bundle.pem"
        )
    else:
        text = (
            f"{done}: no token it signed is still valid, so it is no longer published; restart "
            "the registries at leisure so they stop trusting it"
        )
    emit(info.as_dict(), as_json, lambda: click.echo(text))
