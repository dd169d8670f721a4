"""The admin API takes what the CLI takes: ``expires`` as ``--expires`` (30d, a date, never)
and ``read_only`` as ``--read-only``; and the README documents every operation's body."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_admin_api import Api, api, assert_error, runtime

__all__ = ["api", "runtime"]  # the admin API tests' fixtures

README = Path(__file__).parent.parent.parent / "README.md"


def _in(created: dict[str, Any]) -> datetime.timedelta:
    expires = datetime.datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    return expires - datetime.datetime.now(datetime.UTC)


async def test_expires_takes_the_cli_forms(api: Api) -> None:
    api.runtime.accounts.create_user("bob")
    robot = (await api.call("POST", "/robots", json={"name": "ci", "expires": "30d"})).json()
    assert datetime.timedelta(days=29, hours=23) < _in(robot) <= datetime.timedelta(days=30)
    body = {"user": "bob", "name": "laptop", "expires": "12h", "read_only": True}
    token = await api.call("POST", "/tokens", json=body)
    assert token.status_code == 201, token.text
    assert token.json()["actions"] == ["pull"]
    assert datetime.timedelta(hours=11) < _in(token.json()) <= datetime.timedelta(hours=12)
    dated = await api.call(
        "POST", "/tokens", json={"user": "bob", "name": "d", "expires": "2099-01-31"}
    )
    assert dated.json()["expires_at"] == "2099-01-31T00:00:00Z"
    never = await api.call("POST", "/tokens", json={"user": "bob", "name": "n", "expires": "never"})
    assert never.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"expires": "soon"}, "body.expires: not an expiry: 'soon'"),
        ({"expires": "0d"}, "body.expires: the expiry must be in the future"),
        ({"expires": "36501d"}, "body.expires: duration '36501d' is longer than 36500d"),
        ({"expires": "30d", "expires_in": "30d"}, "not expires and expires_in"),
        ({"read_only": True, "actions": ["push"]}, "read_only or actions, not both"),
    ],
)
async def test_bad_cli_forms_are_400_naming_the_field(
    api: Api, body: dict[str, Any], fragment: str
) -> None:
    api.runtime.accounts.create_user("bob")
    response = await api.call("POST", "/tokens", json={"user": "bob", "name": "t", **body})
    assert_error(response, 400, "invalid_request", fragment)
    assert (await api.call("GET", "/tokens")).json() == [] or all(
        t["name"] != "t" for t in (await api.call("GET", "/tokens")).json()
    )


def _placeholders(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


async def test_the_readme_documents_every_operation_and_its_body(api: Api) -> None:
    """Each operation of the OpenAPI document is in the README's route table, and each
    request body's fields are on its line of "Request bodies"."""
    document = (await api.call("GET", "/openapi.json")).json()
    readme = README.read_text()
    section = readme[readme.index("## Admin API") : readme.index("## The token endpoint")]
    routes = {
        (method, _placeholders(path))
        for methods, path in re.findall(r"`([A-Z]+(?:/[A-Z]+)*) (/[^`?]*)", section)
        for method in methods.split("/")
    }
    bodies = {  # a bullet "- `POST /users`: ..." with its continuation lines
        (method, _placeholders(path)): item
        for item in re.split(r"\n(?=- |\n)", section)
        for method, path in re.findall(r"^- `([A-Z]+) (/[^`]*)`", item)
    }
    for path, operations in document["paths"].items():
        route = _placeholders(path.removeprefix("/api/v1"))
        for method, operation in operations.items():
            assert (method.upper(), route) in routes, f"{method.upper()} {path} not in README"
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref is None:
                continue
            line = bodies.get((method.upper(), route))
            assert line is not None, f"the body of {method.upper()} {path} is not documented"
            schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            for field in schema["properties"]:
                assert f"`{field}`" in line, f"{method.upper()} {path}: `{field}` undocumented"
