"""Shared pieces of the command line: the group, the state options, output, failure, and what
the account commands share (their errors, ``--expires``)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from regauth.accounts import AccountService
    from regauth.config import Config
    from regauth.datadir import DataDir

EXIT_DENIED = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])
#: the largest row id a database holds (a signed 64-bit integer)
MAX_ID = 2**63 - 1


class _UsageError(click.ClickException):
    """A usage error shown as one line, ``regauth: ...``, with exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"regauth: {self.format_message()}", file=file, err=True)


class _OneLineErrors(click.Group):
    """The top-level group: bad input (an unknown option, a value out of range) is one line on
    stderr and exit status 2, not click's usage block."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _UsageError(_one_line(exc)) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _UsageError(_one_line(exc)) from None


def _one_line(exc: click.UsageError) -> str:
    return " ".join(exc.format_message().split())


class RowId(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on
    """A database row id: a whole number from 1 to 2**63 - 1 (larger ones overflow the
    database's integer, so they are refused here)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not text.isascii() or not text.isdigit() or len(text) > 19:
                self.fail(f"{str(value)[:40]!r} is not an id (a whole number from 1)", param, ctx)
            number = int(text)
        if not 1 <= number <= MAX_ID:
            self.fail(f"{str(value)[:40]!r} is not an id (a whole number from 1)", param, ctx)
        return number


ROW_ID = RowId()


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="regauth")
def main() -> None:
    """regauth: token authentication for Docker/OCI registries."""


def state_options(function: F) -> F:
    """``--config`` and ``--data-dir``, the same on every command that needs state."""
    function = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="REGAUTH_DATA_DIR",
        default=None,
        help="Folder for generated keys and the SQLite database (default ./regauth-data). "
        "Env: REGAUTH_DATA_DIR.",
    )(function)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="REGAUTH_CONFIG",
        default=None,
        help="Configuration file (YAML); without it, the built-in defaults. Env: REGAUTH_CONFIG.",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def fail(message: str) -> NoReturn:
    click.echo(f"regauth: {message}", err=True)
    sys.exit(EXIT_USAGE)


def reports_account_errors(function: F) -> F:
    """Turn an AccountError into one line on stderr and exit status 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from regauth.accounts import AccountError

        try:
            return function(*args, **kwargs)
        except AccountError as exc:
            fail(exc.message)

    return wrapper  # type: ignore[return-value]


def parse_expires(text: str | None) -> Any:
    """The ``--expires`` value (30d, 12h, a date, never) as a time, or a usage error."""
    from regauth.clock import utcnow
    from regauth.durations import parse_expiry

    try:
        return parse_expiry(text, utcnow())
    except ValueError as exc:
        fail(f"--expires: {exc}")


def load(config_path: Path | None, data_dir: Path | None) -> tuple[Config, DataDir]:
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


def account_service(
    config_path: Path | None, data_dir: Path | None, *, create: bool = False
) -> AccountService:
    """The accounts of the data folder; only ``serve`` and the imports that set up a new
    installation (``create``) may make the folder."""
    from regauth.accounts import AccountService
    from regauth.runtime import StartupError, open_database

    config, directory = load(config_path, data_dir)
    try:
        return AccountService(open_database(config, directory, create=create))
    except StartupError as exc:
        fail(str(exc))


def emit(data: Any, as_json: bool, table: Callable[[], None] | None = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        table()


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table as wide as the terminal (80 columns when not a terminal, or ``COLUMNS``): a
    cell too long for its column wraps onto more lines, never cut off (``--json`` for
    scripts)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)


def read_password(prompt: str = "Password") -> str:
    """One line from stdin when it is not a terminal, else a hidden prompt asked twice."""
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


def short_time(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"
