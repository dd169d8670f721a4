"""Registry events stored per second on SQLite, as the registry sends them.

    python bench/events.py                 # about a minute
    python bench/events.py --events 4000

Two measurements, each on a fresh data folder:

* **store**: :class:`regauth.activity.EventIngest` in process, one event per transaction
  (2.8 and 3.x send one event per notification), then batches of 10 and 100 for comparison.
* **http**: a real ``regauth serve`` (the default workers) receiving one-event notifications
  over loopback (``POST /registry/events`` with the secret), from one connection (one registry:
  it sends one notification at a time) and from eight (several registries or instances).

Every event has its own id and is a manifest push to one of 5,000 repositories, so each one
also moves the repository index. Writes the figures to bench/results/events.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import run_load
from bench.servers import cpu_seconds, start_regauth

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "bench-notification-secret-0123456789"
REPOSITORIES = 5000


def make_event(index: int) -> dict[str, Any]:
    digest = "sha256:" + uuid.uuid4().hex * 2
    repository = f"team{index % 50}/app{index % REPOSITORIES}"
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 528,
            "digest": digest,
            "length": 528,
            "repository": repository,
            "url": f"http://registry:5000/v2/{repository}/manifests/{digest}",
            "tag": str(index % 7),
        },
        "request": {
            "id": str(uuid.uuid4()),
            "addr": "10.0.0.7:41234",
            "host": "registry:5000",
            "method": "PUT",
            "useragent": "containers/5.24.1 (github.com/containers/image)",
        },
        "actor": {"name": f"user{index % 100}"},
        "source": {"addr": "registry-1:5000", "instanceID": "bench"},
    }


def measure_store(workdir: Path, count: int, batch: int) -> dict[str, Any]:
    from regauth.activity import EventIngest
    from regauth.protocol.notifications import parse_envelope
    from regauth.store.database import Database

    database = Database(f"sqlite:///{workdir / f'store-{batch}.db'}")
    database.ensure_schema(upgrade=False)
    ingest = EventIngest(database)
    bodies = [
        orjson.dumps({"events": [make_event(i + j) for j in range(batch)]})
        for i in range(0, count, batch)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:  # parse included: what the endpoint does per notification
        ingest.store(parse_envelope(body))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    database.dispose()
    return {
        "batch": batch,
        "events": count,
        "events_per_second": round(count / seconds, 1),
        # what one otherwise idle core would do: the figure other processes on the machine
        # move least (the wall-clock rate falls with every process competing for the cores)
        "events_per_cpu_second": round(count / cpu, 1),
    }


def post(host: str, body: bytes) -> bytes:
    head = (
        f"POST /registry/events HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/vnd.docker.distribution.events.v1+json\r\n"
        f"Authorization: Bearer {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def measure_http(workdir: Path, count: int, connections: int) -> dict[str, Any]:
    config = workdir / f"regauth-{connections}.yml"
    config.write_text(
        yaml.safe_dump({"registry": {"notification_secret": SECRET}, "log": {"level": "warning"}})
    )
    server = start_regauth(
        workdir, config, os.cpu_count() or 1, data_dir=workdir / f"data-{connections}"
    )
    try:
        host = f"127.0.0.1:{server.port}"
        requests = [post(host, orjson.dumps({"events": [make_event(i)]})) for i in range(count)]
        cpu = cpu_seconds(server.pids())
        result = run_load("127.0.0.1", server.port, requests, connections=connections)
        cpu = cpu_seconds(server.pids()) - cpu
    finally:
        server.stop()
    per_cpu = round(count / cpu, 1) if cpu else None
    return {"connections": connections, **result.as_dict(), "events_per_server_cpu_second": per_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "python": platform.python_version(),
        "store": [],
        "http": [],
    }
    with tempfile.TemporaryDirectory(prefix="regauth-bench-events-") as temporary:
        workdir = Path(temporary)
        for batch in (1, 10, 100):
            figures = measure_store(workdir, args.events, batch)
            report["store"].append(figures)
            print(
                f"store, batches of {batch}: {figures['events_per_second']} events/s,"
                f" {figures['events_per_cpu_second']} per CPU second"
            )
        for connections in (1, 8):
            figures = measure_http(workdir, args.events, connections)
            report["http"].append(figures)
            print(
                f"http, {connections} connection(s): {figures['requests_per_second']} events/s,"
                f" p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms,"
                f" statuses {figures['statuses']},"
                f" {figures['events_per_server_cpu_second']} per server CPU second"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "events.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
