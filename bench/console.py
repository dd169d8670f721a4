"""The web console's pages under load of data: 10,000 users, 10,000 grants, 5,000 repositories.

    python bench/console.py            # about 2 minutes; writes bench/results/console.json

The real ``docker-registry`` (token auth from ``regauth registry-config``) serves 5,000
repositories written straight into its storage (:mod:`bench.registry_storage`); a real
``regauth serve`` (one worker, SQLite) holds 10,000 users and 10,000 grants. One person at a
time asks each page (keep-alive, 5 warm-up requests, then 60 timed ones) as a signed-in user
(``alice``, who may pull a few hundred repositories) and as an administrator (``root``); the
figures are latencies seen by the client on loopback, p50 / p95 / max, with the core count.
The goal (issue 12): every page within 100 ms at the 95th percentile.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.registry_storage import write_storage
from bench.servers import ROOT, Server, free_port, start_regauth

RESULTS = Path(__file__).resolve().parent / "results"
USERS, GRANTS, REPOSITORIES, TEAMS = 10_000, 10_000, 5_000, 100
PASSWORDS = {"alice": "alice-bench-password", "root": "root-bench-password"}

#: (who, path) pairs measured; {repo} is one of alice's repositories
PAGES: list[tuple[str, str]] = [
    ("alice", "/"),
    ("alice", "/connect"),
    ("alice", "/tokens"),
    ("alice", "/sessions"),
    ("alice", "/access"),
    ("alice", "/access?scope=repository:team1/app1:pull"),
    ("alice", "/repositories"),
    ("alice", "/repositories?q=app1"),
    ("alice", "/repositories?page=3"),
    ("alice", "/repositories/{repo}"),
    ("root", "/admin/users"),
    ("root", "/admin/users?page=150"),
    ("root", "/admin/users?sort=created&order=desc"),
    ("root", "/admin/users/user5000"),
    ("root", "/admin/groups"),
    ("root", "/admin/grants"),
    ("root", "/admin/grants?page=100"),
    ("root", "/admin/robots"),
    ("root", "/admin/tokens"),
    ("root", "/admin/lockouts"),
    ("root", "/admin/audit"),
    ("root", "/admin/policy"),
    ("root", "/admin/settings"),
    ("root", "/repositories"),
]


def regauth(*args: str, cwd: Path, input: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-m", "regauth", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"regauth {' '.join(args)}: {done.stderr}")
    return done.stdout


def populate(config: Path, data: Path, workdir: Path) -> None:
    """10,000 users (one htpasswd import), 10,000 grants, groups, and the two people."""
    common = ("--config", str(config), "--data-dir", str(data))
    hashed = bcrypt.hashpw(b"x-user-password", bcrypt.gensalt(4)).decode()
    htpasswd = workdir / "users.htpasswd"
    htpasswd.write_text("".join(f"user{i}:{hashed}\n" for i in range(USERS - 2)))
    regauth("user", "import", "--htpasswd", str(htpasswd), *common, cwd=workdir)
    regauth("user", "add", "alice", *common, cwd=workdir, input=PASSWORDS["alice"] + "\n")
    regauth("user", "add", "root", "--admin", *common, cwd=workdir, input=PASSWORDS["root"] + "\n")
    from regauth.accounts import AccountService
    from regauth.config import load_config
    from regauth.datadir import DataDir
    from regauth.runtime import open_database

    database = open_database(load_config(config), DataDir(data))
    accounts = AccountService(database)
    for team in range(TEAMS):
        accounts.create_group(f"team{team}")
    for team in range(5):  # alice pulls five teams' repositories
        accounts.add_member(f"team{team}", "alice")
    made = 0
    for team in range(TEAMS):
        accounts.add_grant(pattern=f"team{team}/*", role="push", group=f"team{team}")
        made += 1
    user = 0
    while made < GRANTS:
        accounts.add_grant(pattern=f"team{user % TEAMS}/app{user}", role="pull", user=f"user{user}")
        user += 1
        made += 1
    database.dispose()


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, headers={"accept": "text/html"})
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    answer = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": username, "password": PASSWORDS[username]},
    )
    assert answer.status_code == 303, answer.text[:500]
    return client


def measure(client: httpx.Client, path: str, runs: int) -> dict[str, Any]:
    first_started = time.perf_counter()
    first = client.get(path)
    first_ms = (time.perf_counter() - first_started) * 1000
    for _ in range(4):
        client.get(path)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "status": first.status_code,
        "bytes": len(first.content),
        "first_ms": round(first_ms, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
        "last_status": answer.status_code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regauth-console-bench-") as temp:
        workdir = Path(temp)
        names = [f"team{i % TEAMS}/app{i}" for i in range(REPOSITORIES)]
        started = time.monotonic()
        write_storage(workdir / "storage", names)
        registry_port, regauth_port = free_port(), free_port()
        data = workdir / "data"
        config = workdir / "regauth.yaml"
        document: dict[str, Any] = {
            "server": {"public_url": f"http://127.0.0.1:{regauth_port}"},
            "registry": {
                "url": f"http://127.0.0.1:{registry_port}",
                "public_url": f"http://127.0.0.1:{registry_port}",
            },
            "brute_force": {"enabled": False},
        }
        config.write_text(yaml.safe_dump(document))
        printed = regauth(
            "registry-config", "--config", str(config), "--data-dir", str(data),
            "--out", str(workdir / "trust"), cwd=workdir,
        )  # fmt: skip
        auth = yaml.safe_load(printed)["auth"]
        registry_config = workdir / "registry.yml"
        registry_config.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {
                        "filesystem": {"rootdirectory": str(workdir / "storage")},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": f"127.0.0.1:{registry_port}", "secret": "bench"},
                    "auth": auth,
                }
            )
        )
        populate(config, data, workdir)
        setup_seconds = time.monotonic() - started
        registry = Server(
            ["docker-registry", "serve", str(registry_config)],
            registry_port,
            "/v2/",
            workdir,
        )
        server = start_regauth(workdir, config, 1, data_dir=data)
        try:
            clients = {who: sign_in(server.url, who) for who in PASSWORDS}
            results: dict[str, Any] = {}
            for who, pattern in PAGES:
                path = pattern.replace("{repo}", "team1/app1")
                figure = measure(clients[who], path, options.runs)
                results[f"{who} {path}"] = figure
                print(
                    f"{who:5} {path:45} {figure['status']} p50 {figure['p50_ms']:6.1f} ms  "
                    f"p95 {figure['p95_ms']:6.1f} ms  max {figure['max_ms']:6.1f} ms  "
                    f"first {figure['first_ms']:6.1f} ms",
                    flush=True,
                )
        finally:
            server.stop()
            registry.stop()
    record = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "users": USERS,
        "grants": GRANTS,
        "repositories": REPOSITORIES,
        "setup_seconds": round(setup_seconds, 1),
        "pages": results,
        "worst_p95_ms": max(r["p95_ms"] for r in results.values()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"worst p95: {record['worst_p95_ms']} ms on {record['cores']} cores")


if __name__ == "__main__":
    main()
