"""Refusals before anything is made: a busy port stops ``regauth serve`` before it creates a
data folder or prints a password, and admin commands never create a data folder of their own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from regauth.cli import main
from tests.regauth_process import run_regauth


def test_a_busy_port_is_one_line_and_exit_2_before_anything_is_made(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_regauth("serve", "--listen", f"127.0.0.1:{port}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""  # no admin password, no registry settings
    assert result.stderr.strip() == (
        f"regauth: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(server.listen, or --listen)"
    )
    assert list(tmp_path.iterdir()) == []  # no regauth-data


def test_an_address_this_host_does_not_have(tmp_path: Path) -> None:
    result = run_regauth("serve", "--listen", "192.0.2.1:5001", cwd=tmp_path)  # TEST-NET-1
    assert result.returncode == 2
    assert "cannot listen on 192.0.2.1:5001: Cannot assign requested address" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["user", "list"],
        ["user", "add", "bob"],
        ["grant", "list"],
        ["audit"],
        ["keys", "list"],
        ["lockout", "list"],
        ["db", "status"],
        ["db", "upgrade"],
    ],
)
def test_admin_commands_never_create_a_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REGAUTH_DATA_DIR", raising=False)
    result = CliRunner().invoke(main, command, input="pw\n", catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"regauth: no data folder at {tmp_path / 'regauth-data'}: `regauth serve` creates it; "
        "run this where regauth serve runs, or name the folder with --data-dir "
        "(or REGAUTH_DATA_DIR)"
    )
    assert list(tmp_path.iterdir()) == []
    elsewhere = tmp_path / "typo"
    named = CliRunner().invoke(main, [*command, "--data-dir", str(elsewhere)], input="pw\n")
    assert named.exit_code == 2
    assert f"no data folder at {elsewhere}" in named.output
    assert not elsewhere.exists()


def test_a_folder_that_exists_is_used(tmp_path: Path) -> None:
    """A folder serve made (or an operator made on purpose) gets its database on first use."""
    (tmp_path / "data").mkdir()
    listed = CliRunner().invoke(
        main, ["user", "list", "--json", "--data-dir", str(tmp_path / "data")]
    )
    assert listed.exit_code == 0, listed.output
    assert (tmp_path / "data" / "regauth.db").exists()
