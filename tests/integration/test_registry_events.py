"""The registry events endpoint in process: the secret, the media type, the bounded body, and
strict parsing guard it (4xx, nothing stored); a batch is stored whole, once; pulls are kept as
``events.record_pulls`` says; the admin API, the CLI and /metrics read what was stored."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from click.testing import CliRunner

from regauth.cli import main
from regauth.runtime import Runtime
from regauth.web.registry_events import MAX_BODY_BYTES
from tests.conftest import RuntimeFactory

SECRET = "s3cret-notification-token"
MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
ClientFor = Callable[[Runtime], httpx.AsyncClient]


def event(
    event_id: str,
    action: str = "push",
    *,
    repository: str = "team/app",
    tag: str | None = "1",
    digest: str | None = DIGEST_A,
    actor: str | None = "alice",
    at: str = "2026-11-20T10:00:00Z",
    blob: bool = False,
) -> dict[str, Any]:
    kind = "blobs" if blob else "manifests"
    target: dict[str, Any] = {"repository": repository, "size": 528}
    if digest is not None:
        target["digest"] = digest
        target["url"] = f"http://registry:5000/v2/{repository}/{kind}/{digest}"
        target["mediaType"] = (
            "application/octet-stream" if blob else "application/vnd.oci.image.manifest.v1+json"
        )
    if tag is not None:
        target["tag"] = tag
    return {
        "id": event_id,
        "timestamp": at,
        "action": action,
        "target": target,
        "request": {"addr": "10.1.2.3:41000", "useragent": "skopeo/1.9.3", "method": "PUT"},
        "actor": {"name": actor} if actor is not None else {},
        "source": {"addr": "registry-1:5000", "instanceID": "i-1"},
    }


def body(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"events": list(events)})


HEADERS = {"authorization": f"Bearer {SECRET}", "content-type": MEDIA_TYPE}


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return make_runtime({"registry": {"notification_secret": SECRET}, "metrics": {"enabled": True}})


def stored(runtime: Runtime) -> list[dict[str, Any]]:
    from regauth.activity import EventFilter, query_events

    return query_events(runtime.database, EventFilter(limit=1000)).events


async def test_events_are_stored_once_with_what_the_registry_reported(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    sent = body(event("e1"), event("e2", "pull", at="2026-11-20T10:05:00Z"))
    response = await client.post("/registry/events", content=sent, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0, "skipped": 0}
    # the registry retries what it thinks failed: acknowledged, not stored twice
    again = await client.post("/registry/events", content=sent, headers=HEADERS)
    assert again.json() == {"received": 2, "stored": 0, "duplicates": 2, "skipped": 0}
    rows = stored(runtime)
    assert [(r["id"], r["action"]) for r in rows] == [("e2", "pull"), ("e1", "push")]
    push = rows[1]
    assert push == {
        "id": "e1",
        "at": "2026-11-20T10:00:00Z",
        "action": "push",
        "repository": "team/app",
        "tag": "1",
        "digest": DIGEST_A,
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 528,
        "from_repository": None,
        "actor": "alice",
        "client_addr": "10.1.2.3:41000",
        "user_agent": "skopeo/1.9.3",
        "source": "registry-1:5000",
        "instance_id": "i-1",
    }


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"content-type": MEDIA_TYPE}, 401, "UNAUTHORIZED"),
        ({"authorization": "Bearer wrong-secret-wrong", "content-type": MEDIA_TYPE}, 401, ""),
        ({"authorization": SECRET, "content-type": MEDIA_TYPE}, 401, "UNAUTHORIZED"),
        ({"authorization": f"Bearer {SECRET}x", "content-type": MEDIA_TYPE}, 401, ""),
        ({"authorization": f"Bearer {SECRET}", "content-type": "text/plain"}, 415, ""),
        ({"authorization": f"Bearer {SECRET}"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
async def test_wrong_secret_or_media_type_stores_nothing(
    runtime: Runtime, client_for: ClientFor, headers: dict[str, str], status: int, code: str
) -> None:
    client = client_for(runtime)
    response = await client.post("/registry/events", content=body(event("e1")), headers=headers)
    assert response.status_code == status
    if code:
        assert response.json()["errors"][0]["code"] == code
    assert SECRET not in response.text
    assert stored(runtime) == []


def _bad(field: str, value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(event("bad"))
    *parents, last = field.split(".")
    node = bad
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return bad


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"events": [', "body: not JSON"),
        (body(event("ok"), _bad("target.digest", ...)), "events[1].target.digest: missing"),
        (body(event("ok"), _bad("target.tag", "t" * 200)), "events[1].target.tag: longer"),
        (body(event("ok"), _bad("action", "copy")), "events[1].action: 'copy'"),
        (body(event("ok"), _bad("id", ...)), "events[1].id: missing"),
    ],
)
async def test_a_malformed_batch_is_400_and_nothing_of_it_is_stored(
    runtime: Runtime, client_for: ClientFor, content: bytes, message: str
) -> None:
    response = await client_for(runtime).post("/registry/events", content=content, headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(message)
    assert stored(runtime) == []


async def test_a_body_over_the_bound_is_413(runtime: Runtime, client_for: ClientFor) -> None:
    client = client_for(runtime)
    huge = b'{"events": [' + b" " * MAX_BODY_BYTES + b"]}"
    response = await client.post("/registry/events", content=huge, headers=HEADERS)
    assert response.status_code == 413
    assert stored(runtime) == []


async def test_no_secret_configured_no_endpoint(
    make_runtime: RuntimeFactory, client_for: ClientFor
) -> None:
    client = client_for(make_runtime())
    response = await client.post("/registry/events", content=body(event("e1")), headers=HEADERS)
    assert response.status_code == 404


async def test_get_is_405(runtime: Runtime, client_for: ClientFor) -> None:
    response = await client_for(runtime).get("/registry/events", headers=HEADERS)
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("record_pulls", "kept"),
    [
        ("manifests", {"push", "manifest-pull"}),
        ("all", {"push", "manifest-pull", "blob-pull"}),
        ("none", {"push"}),
    ],
)
async def test_record_pulls(
    make_runtime: RuntimeFactory, client_for: ClientFor, record_pulls: str, kept: set[str]
) -> None:
    runtime = make_runtime(
        {"registry": {"notification_secret": SECRET}, "events": {"record_pulls": record_pulls}}
    )
    sent = body(
        event("push"),
        event("manifest-pull", "pull"),
        event("blob-pull", "pull", tag=None, digest=DIGEST_B, blob=True),
    )
    response = await client_for(runtime).post("/registry/events", content=sent, headers=HEADERS)
    assert response.json()["skipped"] == 3 - len(kept)
    assert {r["id"] for r in stored(runtime)} == kept


async def _seed(runtime: Runtime, client_for: ClientFor) -> httpx.AsyncClient:
    client = client_for(runtime)
    events = [
        event("p1", at="2026-11-20T10:00:00Z"),
        event("p2", digest=DIGEST_B, actor="bob", at="2026-11-20T11:00:00Z"),  # overwrites :1
        event("l1", "pull", digest=DIGEST_B, actor=None, at="2026-11-20T11:30:00Z"),
        event("o1", repository="ops/db", tag="2", at="2026-11-20T09:00:00Z"),
        event("d1", "delete", repository="ops/db", tag=None, at="2026-11-20T12:00:00Z"),
    ]
    for item in events:  # one event per notification, as 2.8 and 3.x send them
        response = await client.post("/registry/events", content=body(item), headers=HEADERS)
        assert response.status_code == 200
    runtime.accounts.create_user("root", is_admin=True)
    token = runtime.accounts.create_token("root", "events").secret
    client.headers["authorization"] = f"Bearer {token}"
    return client


async def test_admin_api_filters_pages_and_the_repository_index(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = await _seed(runtime, client_for)
    # who pushed this digest, when, from where
    found = await client.get("/api/v1/events", params={"digest": DIGEST_B, "action": "push"})
    assert found.status_code == 200, found.text
    (push,) = found.json()["events"]
    assert (push["actor"], push["at"], push["client_addr"]) == (
        "bob",
        "2026-11-20T11:00:00Z",
        "10.1.2.3:41000",
    )
    anonymous = (await client.get("/api/v1/events", params={"actor": ""})).json()["events"]
    assert [e["id"] for e in anonymous] == ["l1"]
    window = await client.get(
        "/api/v1/events", params={"since": "2026-11-20T10:30:00Z", "until": "2026-11-20T11:45Z"}
    )
    assert [e["id"] for e in window.json()["events"]] == ["l1", "p2"]
    # paging: newest first, two at a time, no event twice
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get("/api/v1/events", params=params)).json()
        seen += [e["id"] for e in page["events"]]
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert seen == ["d1", "l1", "p2", "p1", "o1"]
    for bad, fragment in [
        ({"cursor": "nope"}, "cursor"),
        ({"since": "1x"}, "query.since"),
        ({"action": "copy"}, "action"),
        ({"limit": 0}, "limit"),
    ]:
        response = await client.get("/api/v1/events", params=bad)
        assert response.status_code == 400 and fragment in response.text, (bad, response.text)

    index = (await client.get("/api/v1/repositories")).json()
    assert [r["name"] for r in index["repositories"]] == ["ops/db", "team/app"]
    ops, app = index["repositories"]
    assert (ops["last_delete_at"], ops["tags"]) == ("2026-11-20T12:00:00Z", [])
    assert (app["pushes"], app["pulls"], app["last_pull_at"]) == (2, 1, "2026-11-20T11:30:00Z")
    assert app["tags"] == [
        {
            "tag": "1",
            "digest": DIGEST_B,
            "pushed_at": "2026-11-20T11:00:00Z",
            "pushed_by": "bob",
            "pulled_at": "2026-11-20T11:30:00Z",
        }
    ]
    one = await client.get("/api/v1/repositories/team/app")
    assert one.json() == app
    assert (await client.get("/api/v1/repositories/no/such")).status_code == 404


async def test_a_late_redelivery_does_not_move_a_tag_back(
    runtime: Runtime, client_for: ClientFor
) -> None:
    from regauth.activity import get_repository

    client = client_for(runtime)
    newer = event("new", digest=DIGEST_B, at="2026-11-20T11:00:00Z")
    older = event("old", digest=DIGEST_A, at="2026-11-20T10:00:00Z")
    for item in (newer, older):
        await client.post("/registry/events", content=body(item), headers=HEADERS)
    repository = get_repository(runtime.database, "team/app")
    assert repository is not None
    assert repository["tags"][0]["digest"] == DIGEST_B
    assert repository["pushes"] == 2


async def test_metrics_count_events_by_result_and_action(
    runtime: Runtime, client_for: ClientFor
) -> None:
    client = client_for(runtime)
    sent = body(event("e1"), event("e2", "pull"))
    await client.post("/registry/events", content=sent, headers=HEADERS)
    await client.post("/registry/events", content=sent, headers=HEADERS)
    await client.post("/registry/events", content=b"{", headers=HEADERS)
    await client.post("/registry/events", content=sent, headers={"content-type": MEDIA_TYPE})
    text = (await client.get("/metrics")).text
    for line in [
        'regauth_registry_events_total{action="push",result="received"} 2.0',
        'regauth_registry_events_total{action="push",result="stored"} 1.0',
        'regauth_registry_events_total{action="pull",result="duplicate"} 1.0',
        'regauth_registry_notifications_rejected_total{reason="malformed"} 1.0',
        'regauth_registry_notifications_rejected_total{reason="unauthorized"} 1.0',
    ]:
        assert line in text, line
    assert SECRET not in text


def test_cli_events_and_repositories(tmp_path: Path) -> None:
    """``regauth events`` reads what the endpoint stored; bad input is exit 2, one line."""
    import asyncio

    from regauth.config import parse_config
    from regauth.datadir import DataDir
    from regauth.runtime import build_runtime
    from regauth.web.app import create_app

    config_file = tmp_path / "regauth.yml"
    config_file.write_text(yaml.safe_dump({"registry": {"notification_secret": SECRET}}))
    data = tmp_path / "data"

    async def send() -> None:
        runtime = build_runtime(
            parse_config(yaml.safe_load(config_file.read_text())), DataDir(data)
        )
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for item in (event("p1"), event("p2", digest=DIGEST_B, actor="bob")):
                await client.post("/registry/events", content=body(item), headers=HEADERS)
        await runtime.stop()

    asyncio.run(send())
    state = ["--config", str(config_file), "--data-dir", str(data)]
    runner = CliRunner()
    result = runner.invoke(main, ["events", "--digest", DIGEST_B, "--json", *state])
    assert result.exit_code == 0, result.output
    assert [(e["id"], e["actor"]) for e in json.loads(result.stdout)] == [("p2", "bob")]
    result = runner.invoke(main, ["events", "--since", "36500d", "--limit", "1", *state])
    assert result.exit_code == 0 and "bob" in result.stdout and "alice" not in result.stdout
    assert "--cursor" in result.stderr
    result = runner.invoke(main, ["repositories", "--json", *state])
    assert json.loads(result.stdout)[0]["tags"][0]["digest"] == DIGEST_B
    for bad in (["--since", "soon"], ["--action", "copy"], ["--cursor", "x"]):
        result = runner.invoke(main, ["events", *bad, *state])
        assert result.exit_code == 2 and "Traceback" not in result.output, bad


async def test_concurrent_notifications_are_each_answered_for_themselves(
    runtime: Runtime, client_for: ClientFor
) -> None:
    """Notifications arriving together share a transaction (group commit), but each answer
    counts its own events, and an id sent twice at once is stored once."""
    import asyncio

    client = client_for(runtime)
    sent = [body(event(f"c{i % 15}", at=f"2026-11-20T10:{i % 15:02d}:00Z")) for i in range(30)]
    answers = await asyncio.gather(
        *(client.post("/registry/events", content=item, headers=HEADERS) for item in sent)
    )
    assert all(a.status_code == 200 for a in answers)
    assert sum(a.json()["stored"] for a in answers) == 15
    assert sum(a.json()["duplicates"] for a in answers) == 15
    assert len(stored(runtime)) == 15
    from regauth.activity import get_repository

    repository = get_repository(runtime.database, "team/app")
    assert repository is not None and repository["pushes"] == 15


def test_registry_config_prints_the_notifications_section_in_every_format(tmp_path: Path) -> None:
    import shlex

    config_file = tmp_path / "regauth.yml"
    data = ["--config", str(config_file), "--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    config_file.write_text(yaml.safe_dump({"server": {"public_url": "https://auth.example.com"}}))
    plain = runner.invoke(main, ["registry-config", *data])
    assert plain.exit_code == 0 and "notifications" not in plain.stdout  # no secret, no section
    config_file.write_text(
        yaml.safe_dump(
            {
                "server": {"public_url": "https://auth.example.com", "path_prefix": "/r"},
                "registry": {"notification_secret": SECRET},
            }
        )
    )
    expected = {
        "name": "regauth",
        "url": "https://auth.example.com/r/registry/events",
        "headers": {"Authorization": [f"Bearer {SECRET}"]},
        "timeout": "5s",
        "threshold": 5,
        "backoff": "1s",
    }
    printed = yaml.safe_load(runner.invoke(main, ["registry-config", *data]).stdout)
    assert printed["notifications"] == {"endpoints": [expected]}
    env = runner.invoke(main, ["registry-config", "--format", "env", *data]).stdout
    (line,) = [x for x in env.splitlines() if x.startswith("REGISTRY_NOTIFICATIONS_ENDPOINTS=")]
    (assignment,) = shlex.split(line)  # what a shell makes of it
    assert yaml.safe_load(assignment.split("=", 1)[1]) == [expected]  # the registry reads YAML
    out = tmp_path / "compose"
    result = runner.invoke(
        main, ["registry-config", "--format", "compose", "--out", str(out), *data]
    )
    assert result.exit_code == 0, result.output
    registry_file = out / "registry-config.yml"
    assert registry_file.stat().st_mode & 0o777 == 0o600
    (endpoint,) = yaml.safe_load(registry_file.read_text())["notifications"]["endpoints"]
    assert endpoint["url"] == "http://regauth:5001/r/registry/events"
