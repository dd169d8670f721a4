"""Hot reload in process: a changed configuration applies from the next request on; one that
does not validate is refused with one log line naming the key, and the old one keeps serving;
what only a restart can change is named and left as it is."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml

from regauth.config import load_config
from regauth.datadir import DataDir
from regauth.events import configure_logging
from regauth.runtime import Runtime, build_runtime
from regauth.web.app import RegauthApp, create_app
from regauth.web.reload import Reloader
from tests.conftest import bcrypt_hash

Document = dict[str, Any]


def document(**extra: Any) -> Document:
    return {
        "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
        "acl": [{"match": {"account": "alice"}, "actions": ["pull"]}],
        **extra,
    }


class Served:
    def __init__(self, path: Path, runtime: Runtime, app: RegauthApp, reloader: Reloader) -> None:
        self.path, self.runtime, self.app, self.reloader = path, runtime, app, reloader
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://regauth.test")

    def write(self, content: Document | str) -> None:
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        self.path.write_text(text)

    async def granted(self, user: str = "alice", password: str = "alice-pw") -> Any:
        response = await self.client.get(
            "/auth", params={"scope": "repository:team/app:pull,push"}, auth=(user, password)
        )
        if response.status_code != 200:
            return response.status_code
        claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
        return claims["access"][0]["actions"]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml.safe_dump(document()))
    data = DataDir(tmp_path / "data")
    runtime = build_runtime(load_config(path), data)
    reloader = Reloader(lambda: load_config(path), path=path, signals=False)
    app = create_app(runtime, reloader=reloader)
    reloader.start(app)
    await runtime.start()
    served = Served(path, runtime, app, reloader)
    yield served
    await served.client.aclose()
    await reloader.stop()
    await runtime.stop()


@pytest.fixture
def log_lines() -> Callable[[], list[dict[str, Any]]]:
    stream = io.StringIO()
    configure_logging("info", "json", stream)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    configure_logging("info", "json")


async def test_acl_rules_apply_from_the_next_request(served: Served) -> None:
    assert await served.granted() == ["pull"]
    served.write(document(acl=[{"match": {"account": "alice"}, "actions": ["*"]}]))
    assert await served.reloader.reload("test")
    assert await served.granted() == ["pull", "push"]


async def test_static_users_and_their_cached_logins(served: Served) -> None:
    assert await served.granted() == ["pull"]  # cached now
    served.write(document(users={"alice": {"password": bcrypt_hash("alice-new-pw")}}))
    assert await served.reloader.reload("test")
    assert await served.granted() == 401  # the old password no longer works
    assert await served.granted("alice", "alice-new-pw") == ["pull"]


async def test_token_lifetime_issuer_and_limits(served: Served) -> None:
    served.write(
        document(
            token={"expiration": 900, "issuer": "acme"},
            brute_force={"account_address": {"free_failures": 1, "delay": "5m"}},
        )
    )
    assert await served.reloader.reload("test")
    response = await served.client.get("/auth", auth=("alice", "alice-pw"))
    assert response.json()["expires_in"] == 900
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["iss"] == "acme"
    for _ in range(2):
        await served.client.get("/auth", auth=("bob", "guess"))
    assert (await served.client.get("/auth", auth=("bob", "guess"))).status_code == 429


async def test_htpasswd_path(served: Served, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("hank:" + bcrypt_hash("hank-pw") + "\n")
    served.write(
        document(htpasswd=str(htpasswd), acl=[{"match": {"account": "/.+/"}, "actions": ["pull"]}])
    )
    assert await served.reloader.reload("test")
    assert await served.granted("hank", "hank-pw") == ["pull"]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (document(acl=[{"match": {"team": "x"}, "actions": ["pull"]}]), "acl[0].match.team"),
        (document(token={"expiration": 5}), "token.expiration"),
        ("acl: [unclosed", "YAML"),
        (document(htpasswd="/nowhere/htpasswd"), "htpasswd"),
    ],
)
async def test_a_bad_configuration_is_refused_and_the_old_one_keeps_serving(
    served: Served, log_lines: Callable[[], list[dict[str, Any]]], content: Any, named: str
) -> None:
    served.write(content)
    assert not await served.reloader.reload("test")
    refusals = [line for line in log_lines() if line["event"].startswith("configuration not")]
    assert len(refusals) == 1
    assert named in refusals[0]["problem"]
    assert await served.granted() == ["pull"]  # still the old rules


async def test_what_needs_a_restart_is_named_and_kept(
    served: Served, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    listen = served.runtime.config.server.listen
    served.write(
        document(
            server={"listen": "127.0.0.1:7999"},
            acl=[{"match": {"account": "alice"}, "actions": ["*"]}],
        )
    )
    assert await served.reloader.reload("test")
    assert served.runtime.config.server.listen == listen  # kept until a restart
    assert await served.granted() == ["pull", "push"]  # the rest applied
    (warning,) = [line for line in log_lines() if "restart" in line["event"]]
    assert warning["restart_needed_for"] == ["server.listen"]


async def test_a_changed_file_is_noticed_when_watched(tmp_path: Path) -> None:
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml.safe_dump(document(server={"watch_config": True})))
    runtime = build_runtime(load_config(path), DataDir(tmp_path / "data"))
    reloader = Reloader(lambda: load_config(path), path=path, watch=True, signals=False)
    app = create_app(runtime, reloader=reloader)
    reloader.start(app)
    try:
        path.write_text(
            yaml.safe_dump(
                document(
                    server={"watch_config": True},
                    acl=[{"match": {"account": "alice"}, "actions": ["*"]}],
                )
            )
        )
        import asyncio

        for _ in range(40):
            if reloader.applied:
                break
            await asyncio.sleep(0.1)
        assert reloader.applied == 1
    finally:
        await reloader.stop()
        await runtime.stop()
