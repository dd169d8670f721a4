"""Prometheus metrics at /metrics: token outcomes, reuse of remembered grants, latency,
backend errors and the audit writer; summed over the workers of a real ``regauth serve``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from regauth.metrics import FLUSH_SECONDS
from regauth.runtime import Runtime
from regauth.web.app import RegauthApp
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.regauth_process import RegauthServer

CONFIG = {
    "users": {"alice": {"password": bcrypt_hash("alice-pw")}},
    "acl": [{"match": {"account": "alice"}, "actions": ["pull"]}],
}
SCOPE = {"scope": "repository:team/app:pull"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_total(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], **labels: str
) -> float:
    return sum(
        value
        for (name, series), value in found.items()
        if name == "regauth_token_requests_total"
        and all(dict(series).get(k) == v for k, v in labels.items())
    )


async def test_token_outcomes_reuse_and_latency_are_counted(make_runtime: RuntimeFactory) -> None:
    runtime: Runtime = make_runtime(CONFIG)
    app = RegauthApp(runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://regauth.test") as http:
        for _ in range(3):
            assert (
                await http.get("/auth", params=SCOPE, auth=("alice", "alice-pw"))
            ).status_code == 200
        assert (
            await http.get("/auth", params=SCOPE, auth=("alice", "wrong-pw"))
        ).status_code == 401
        denied = await http.get(
            "/auth", params={"scope": "repository:x:push"}, auth=("alice", "alice-pw")
        )
        assert denied.status_code == 200
        runtime.writer.close()  # stores the audit records and reports them
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert (await http.post("/metrics")).status_code == 405
    found = samples(response.text)
    # decided for the first two (remembered at the second sight), reused for the third
    assert requests_total(found, outcome="granted", method="static", reused="false") == 2
    assert requests_total(found, outcome="granted", method="static", reused="true") == 1
    assert requests_total(found, outcome="rejected", method="none") == 1
    assert requests_total(found, outcome="denied", method="static") == 1
    assert found[("regauth_token_request_duration_seconds_count", ())] == 5
    assert found[("regauth_token_request_duration_seconds_sum", ())] > 0
    assert found[("regauth_audit_records_written_total", ())] == 5
    assert found[("regauth_audit_records_dropped_total", ())] == 0
    # names and secrets stay out of it
    for private in ("alice", "alice-pw", "wrong-pw", "team/app"):
        assert private not in response.text


async def test_metrics_can_be_switched_off(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime({**CONFIG, "metrics": {"enabled": False}})
    transport = httpx.ASGITransport(app=RegauthApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://regauth.test") as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (
            await http.get("/auth", params=SCOPE, auth=("alice", "alice-pw"))
        ).status_code == 200


async def test_an_unavailable_backend_is_counted(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(
        {
            "ldap": {
                "url": ["ldap://127.0.0.1:9"],
                "user_dn_template": "uid={username},ou=people,dc=example,dc=org",
                "group_membership": "none",
                "timeout": 1,
            },
            "acl": [{"match": {"account": "/.+/"}, "actions": ["pull"]}],
        }
    )
    transport = httpx.ASGITransport(app=RegauthApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://regauth.test") as http:
        down = await http.get("/auth", params=SCOPE, auth=("someone", "pw"))
        assert down.status_code == 503
        found = samples((await http.get("/metrics")).text)
    assert found[("regauth_authentication_backend_errors_total", (("backend", "ldap"),))] == 1


def _served_per_worker(directory: Path) -> dict[str, float]:
    """Token requests each worker recorded, read from its own file."""
    served = {}
    for path in directory.glob("regauth-metrics-*/counter_*.db"):
        found = 0.0
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            found += sum(
                s.value for s in metric.samples if s.name == "regauth_token_requests_total"
            )
        served[path.stem] = found
    return served


def test_every_workers_requests_are_in_the_sum(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with RegauthServer(
        tmp_path, config=config, workers=2, extra_env={"TMPDIR": str(scratch)}
    ) as server:
        count = 0
        # a new connection each time, until both workers have answered some
        while count < 400:
            with server.client() as fresh:
                answer = fresh.get("/auth", params=SCOPE, auth=("alice", "alice-pw"))
                assert answer.status_code == 200
            count += 1
            served = _served_per_worker(scratch)
            if count >= 20 and len([n for n in served.values() if n > 0]) == 2:
                break
        assert len([n for n in served.values() if n > 0]) == 2, served
        # whichever worker answers, it reports the sum of both (another worker's latest
        # requests reach the files within FLUSH_SECONDS)
        time.sleep(FLUSH_SECONDS * 3)
        for _ in range(4):
            with server.client() as fresh:
                found = samples(fresh.get("/metrics").text)
            assert requests_total(found, outcome="granted") == count
            assert found[("regauth_token_request_duration_seconds_count", ())] == count
    assert server.stop() == 0
    assert not list(scratch.iterdir())  # the metrics directory is removed on exit
