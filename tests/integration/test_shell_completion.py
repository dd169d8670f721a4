"""Shell completion as the README documents it: click's ``_REGAUTH_COMPLETE``, sourced into a
real bash and asked to complete commands, options and choices."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REGAUTH = Path(sys.executable).parent / "regauth"


def _complete(line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end) after sourcing the script."""
    script = f"""
eval "$(_REGAUTH_COMPLETE=bash_source regauth)"
COMP_WORDS=({line}{" ''" if line.endswith(" ") else ""})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_regauth_completion regauth
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{REGAUTH.parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return [word for word in done.stdout.splitlines() if word]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("regauth gr", ["grant", "group"]),
        ("regauth grant add --r", ["--robot", "--role"]),
        ("regauth grant add --role ", ["pull", "push", "delete", "admin"]),
        ("regauth audit --outcome d", ["denied"]),
    ],
)
def test_bash_completes_commands_options_and_choices(line: str, expected: list[str]) -> None:
    assert shutil.which("bash")
    assert _complete(line) == expected


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef regauth"), ("fish", "complete")])
def test_zsh_and_fish_scripts(shell: str, marker: str) -> None:
    env = {**os.environ, "_REGAUTH_COMPLETE": f"{shell}_source"}
    done = subprocess.run([str(REGAUTH)], env=env, capture_output=True, text=True, check=True)
    assert marker in done.stdout
