"""Several instances on one PostgreSQL behind Debian's nginx, as a company runs regauth.

Three ``regauth serve`` processes share a database; nginx spreads token requests over them
(round robin, ``proxy_next_upstream`` to the next on an error). A loop of real skopeo pulls
runs through the real registry while one instance is killed with SIGKILL and started again:
not one pull fails. A password changed through one instance's admin API is enforced by the
other two on their very next request, although they had the old login cached.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from peers import OciImage, Registry, Skopeo, registry_auth_from_yaml
from tests.nginx import Nginx
from tests.postgres import PostgresCluster
from tests.regauth_process import RegauthServer, free_port, run_regauth

INSTANCES = 3
UPSTREAMS = """
upstream regauth {{
{servers}
}}
server {{
    listen 127.0.0.1:{{port}};
    location / {{
        proxy_pass http://regauth;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries {tries};
        proxy_connect_timeout 1s;
        proxy_read_timeout 10s;
    }}
}}
"""


def _write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def _pull_loop(client: Skopeo, source: str, target: Path, stop: threading.Event) -> list[str]:
    """skopeo copy, again and again, until ``stop``; the error of every failed pull."""
    failures: list[str] = []
    runs = 0
    target.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        runs += 1
        result = client.run(
            "copy", "--retry-times=0", *client.tls_args("src-"), "--src-creds", "alice:alice-pw",
            source, f"dir:{target / str(runs)}",
        )  # fmt: skip
        if result.returncode != 0:
            failures.append(result.stderr.strip()[-300:])
    failures.append(f"runs={runs}")
    return failures


def test_three_instances_survive_a_kill_and_share_a_password_change(
    tmp_path: Path, postgres: PostgresCluster, oci_image: OciImage
) -> None:
    database = postgres.create_database()
    shared = tmp_path / "shared"
    trust = tmp_path / "trust"
    nginx_port = free_port()
    public = f"http://127.0.0.1:{nginx_port}"
    document = {
        "database": {"url": database},
        "server": {
            "public_url": public,
            "proxy_headers": ["x-forwarded-for"],
            "trusted_proxies": ["127.0.0.1"],
        },
        "acl": [{"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]}],
    }
    config = _write_config(tmp_path / "regauth.yaml", document)
    common = ("--config", str(config), "--data-dir", str(shared))
    printed = run_regauth("registry-config", *common, "--out", str(trust), cwd=tmp_path, check=True)
    # every instance signs with the same key: the one the database holds (regauth keys)
    for user in ("alice", "bob"):
        run_regauth("user", "add", user, *common, cwd=tmp_path, input=f"{user}-pw\n", check=True)
    run_regauth("user", "add", "ops", "--admin", *common, cwd=tmp_path, input="ops-pw\n")
    api_token = yaml.safe_load(
        run_regauth(
            "token", "create", "--user", "ops", "--name", "api", "--json", *common, cwd=tmp_path
        ).stdout
    )["secret"]

    ports = [free_port() for _ in range(INSTANCES)]
    for n in range(INSTANCES):
        (tmp_path / f"i{n}").mkdir()
    servers = [
        RegauthServer(tmp_path / f"i{n}", config=config, data_dir=shared, port=port)
        for n, port in enumerate(ports)
    ]
    body = UPSTREAMS.format(
        servers="\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports),
        tries=INSTANCES,
    )
    auth = registry_auth_from_yaml(printed.stdout)
    assert auth["token"]["realm"] == f"{public}/auth"
    try:
        for server in servers:
            server.wait_ready()
        with (
            Nginx(tmp_path / "nginx", body, port=nginx_port),
            Registry(tmp_path / "registry", auth=auth) as registry,
        ):
            pusher = Skopeo(tmp_path / "pusher", tls_verify=False)
            pushed = pusher.copy(
                oci_image.ref,
                registry.docker_ref("alice/app", "1"),
                "--dest-creds",
                "alice:alice-pw",
            )
            assert pushed.returncode == 0, pushed.stderr
            puller = Skopeo(tmp_path / "puller", tls_verify=False)
            stop = threading.Event()
            outcome: list[list[str]] = []
            loop = threading.Thread(
                target=lambda: outcome.append(
                    _pull_loop(puller, registry.docker_ref("alice/app", "1"), tmp_path / "p", stop)
                )
            )
            loop.start()
            time.sleep(3)
            killed = servers[1]
            killed.stop(signal.SIGKILL)
            down_at = time.monotonic()
            time.sleep(3)
            servers[1] = RegauthServer(
                tmp_path / "i1", config=config, data_dir=shared, port=ports[1]
            ).wait_ready()
            down_for = time.monotonic() - down_at
            time.sleep(3)
            stop.set()
            loop.join(120)
            *failures, runs = outcome[0]
            print(f"\nnginx, {INSTANCES} instances: {runs.split('=')[1]} pulls, {len(failures)} failed, "
                  f"one instance killed (SIGKILL) and down {down_for:.1f} s")  # fmt: skip
            assert not failures, failures
            assert int(runs.split("=")[1]) >= 6

            # bob's login is cached on every instance, then changed through the first one
            for server in servers:
                for _ in range(3):
                    assert _token(server.url, "bob", "bob-pw").status_code == 200
            changed = httpx.put(
                f"{servers[0].url}/api/v1/users/bob/password",
                json={"password": "bob-new-pw"},
                headers={"Authorization": f"Bearer {api_token}"},
            )
            assert changed.status_code == 200, changed.text
            for server in servers[1:]:
                assert _token(server.url, "bob", "bob-pw").status_code == 401
                assert _token(server.url, "bob", "bob-new-pw").status_code == 200
    finally:
        for server in servers:
            server.stop()


def _token(base: str, user: str, password: str) -> httpx.Response:
    return httpx.get(
        f"{base}/auth", params={"scope": f"repository:{user}/app:pull"}, auth=(user, password)
    )
