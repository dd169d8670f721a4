"""New user, group and robot names are lower-case repository path components; names already
in a database (or sent by a directory or identity provider) keep working as they are."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from regauth.accounts import InvalidInput, check_new_name
from regauth.cli import main


@pytest.fixture
def run(tmp_path: Path) -> Any:
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main, [*args, "--data-dir", str(data_dir)], input=input, catch_exceptions=False
        )

    return invoke


@pytest.mark.parametrize(
    "name", ["bob", "b", "bob.smith", "bob_smith", "bob__smith", "bob-smith", "bob---x", "0x1f"]
)
def test_valid_names(name: str) -> None:
    assert check_new_name("username", name) == name


@pytest.mark.parametrize(
    "name",
    ["Bob", "", "-bob", "bob-", "bob.", "a..b", "a._b", "a___b", "bob smith", "bob@example.com",
     "team/bob", "é", "a" * 129],
)  # fmt: skip
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidInput, match="repository path component"):
        check_new_name("username", name)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("user", "add", "Bob"), "invalid username 'Bob'"),
        (("group", "add", "Devs"), "invalid group name 'Devs'"),
        (("robot", "create", "CI"), "invalid robot name 'CI'"),
    ],
)
def test_the_cli_refuses_names_no_repository_can_use(
    run: Any, command: tuple[str, ...], expected: str
) -> None:
    result = run(*command, input="pw\n")
    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert run("user", "list", "--json").output.strip() == "[]"


def test_an_import_with_a_capitalised_name_changes_nothing(run: Any, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    hashed = "$2y$04$" + "a" * 53
    htpasswd.write_text(f"alice:{hashed}\nBob:{hashed}\n")
    result = run("user", "import", "--htpasswd", str(htpasswd))
    assert result.exit_code == 2
    assert "invalid username 'Bob'" in result.output
    assert run("user", "list", "--json").output.strip() == "[]"


def test_names_already_in_the_database_are_left_alone(run: Any, tmp_path: Path) -> None:
    """A database from before the rule: 'Bob' stays usable by every command naming him."""
    assert run("user", "add", "bob", input="pw\n").exit_code == 0
    assert run("group", "add", "devs").exit_code == 0
    with sqlite3.connect(tmp_path / "data" / "regauth.db") as db:
        db.execute("UPDATE users SET username = 'Bob' WHERE username = 'bob'")
        db.execute("UPDATE groups SET name = 'Devs' WHERE name = 'devs'")
    assert run("user", "show", "Bob").exit_code == 0
    assert run("user", "passwd", "Bob", input="new-pw\n").exit_code == 0
    assert run("group", "add-member", "Devs", "Bob").exit_code == 0
    granted = run("grant", "add", "--group", "Devs", "--pattern", "team/*", "--role", "push")
    assert granted.exit_code == 0, granted.output
    assert run("user", "delete", "Bob").exit_code == 0
    assert run("group", "delete", "Devs").exit_code == 0
