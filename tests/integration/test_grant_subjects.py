"""Grants for every signed-in user (``--authenticated``) and duplicate grants (409 / exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from regauth.authz.grants import load_snapshot
from regauth.cli import main
from regauth.protocol.errors import Unauthorized
from regauth.protocol.request import parse_get
from regauth.service import ClientInfo
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.unit.test_request import basic

CLIENT = ClientInfo(address=None, user_agent="test")


async def _granted(runtime: Any, scope: str, authorization: str | None) -> tuple[str, ...]:
    issued = await runtime.service.issue(parse_get(f"scope={scope}", authorization), CLIENT)
    (decision,) = issued.grant.decisions
    return tuple(decision.granted)


async def test_every_signed_in_user_and_no_one_else(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(
        {
            "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
            "grants": {"anonymous_pull": True},
        }
    )
    accounts = runtime.accounts
    accounts.create_user("bob", password="bob-pw")
    robot = accounts.create_robot("ci")
    accounts.add_grant(authenticated=True, pattern="shared/*", role="push")
    runtime.grants.replace(load_snapshot(runtime.database))
    scope = "repository:shared/app:pull,push"
    # a static user and a database user alike
    assert await _granted(runtime, scope, basic("alice", "alice-pw")) == ("pull", "push")
    assert await _granted(runtime, scope, basic("bob", "bob-pw")) == ("pull", "push")
    # not a robot (its grants are its own), not anonymous
    assert await _granted(runtime, scope, basic("robot+ci", robot.secret)) == ()
    with pytest.raises(Unauthorized):  # anonymous and granted nothing: asked to log in
        await runtime.service.issue(parse_get(f"scope={scope}", None), CLIENT)
    assert await _granted(runtime, "repository:other/app:pull", basic("bob", "bob-pw")) == ()


def test_the_cli_grants_to_the_signed_in_and_refuses_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(
            main, [*args, "--data-dir", str(data)], input=input, catch_exceptions=False
        )

    added = run("grant", "add", "--authenticated", "--pattern", "shared/*", "--role", "pull")
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "grant 1: authenticated pull on shared/*"
    again = run("grant", "add", "--authenticated", "--pattern", "shared/*", "--role", "pull")
    assert again.exit_code == 2
    assert again.output.strip() == (
        "regauth: authenticated already has role pull on 'shared/*' (grant 1)"
    )
    assert run("user", "add", "bob", input="pw\n").exit_code == 0
    assert run("grant", "add", "--user", "bob", "--pattern", "t/*", "--role", "push").exit_code == 0
    twice = run("grant", "add", "--user", "bob", "--pattern", "t/*", "--role", "push")
    assert twice.exit_code == 2
    assert "user 'bob' already has role push on 't/*' (grant 2)" in twice.output
    both = run("grant", "add", "--authenticated", "--public", "--pattern", "x", "--role", "pull")
    assert both.exit_code == 2
    assert "exactly one" in both.output
    listed = json.loads(run("grant", "list", "--json").output)
    assert [(g["subject_type"], g["subject"]) for g in listed] == [
        ("authenticated", None),
        ("user", "bob"),
    ]
    assert "(signed in)" in run("grant", "list").output
