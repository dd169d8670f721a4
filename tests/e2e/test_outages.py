"""Fault tests with figures: a backend stops under load and comes back.

For the database (PostgreSQL), the directory (slapd) and an identity provider (the real
oidc-provider), against a real ``regauth serve`` with two workers: logins already cached keep
working, new logins get 503 with a clear message and nothing more than they should, and
service recovers by itself within seconds of the backend returning. Each test prints its
figures (``pytest -s``); the README's reliability section quotes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.ldap_server import LdapServer
from tests.oidc.harness import RESOURCE, Account, OidcProvider, provider_entry
from tests.postgres import PostgresCluster
from tests.regauth_process import RegauthServer, run_regauth

ACL = [{"match": {"account": "/.+/"}, "actions": ["pull"]}]
SCOPE = "repository:team/app:pull"
OUTAGE_SECONDS = 3.0
RECOVERY_LIMIT = 15.0


def ask(server: RegauthServer, user: str, password: str) -> httpx.Response:
    """A token request on a new connection (so both workers get their share)."""
    with httpx.Client(timeout=10) as client:
        return client.get(f"{server.url}/auth", params={"scope": SCOPE}, auth=(user, password))


def warm(server: RegauthServer, user: str, password: str) -> None:
    """Log in often enough that every worker has the login cached."""
    for _ in range(24):
        assert ask(server, user, password).status_code == 200


def during_outage(checks: dict[str, Callable[[], int]]) -> dict[str, list[int]]:
    """Run every check again and again for OUTAGE_SECONDS; the statuses seen per check."""
    seen: dict[str, list[int]] = {name: [] for name in checks}
    deadline = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < deadline:
        for name, check in checks.items():
            seen[name].append(check())
    return seen


def recovery_seconds(check: Callable[[], int]) -> float:
    """Seconds until ``check`` answers 200 again."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_LIMIT:
        if check() == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no recovery within {RECOVERY_LIMIT} s")


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"acl": ACL, **document}))
    return path


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()  # its own: this test stops it
    yield cluster
    cluster.stop()


def test_database_outage(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    config = write_config(
        tmp_path / "regauth.yaml", {"database": {"url": postgres_cluster.create_database()}}
    )
    data = tmp_path / "data"
    common = ("--config", str(config), "--data-dir", str(data))
    for user in ("alice", "bob"):
        run_regauth("user", "add", user, *common, cwd=tmp_path, input=f"{user}-pw\n", check=True)
    created = run_regauth(
        "token", "create", "--user", "alice", "--name", "ci", "--json", *common, cwd=tmp_path
    )
    token = yaml.safe_load(created.stdout)["secret"]
    with RegauthServer(tmp_path, config=config, data_dir=data, workers=2) as server:
        warm(server, "alice", "alice-pw")
        postgres_cluster.halt()
        seen = during_outage(
            {
                "cached login": lambda: ask(server, "alice", "alice-pw").status_code,
                "new login": lambda: ask(server, "bob", "bob-pw").status_code,
                "wrong password": lambda: ask(server, "alice", "not-alices").status_code,
                "access token": lambda: ask(server, "alice", token).status_code,
            }
        )
        refused = ask(server, "bob", "bob-pw")
        postgres_cluster.resume()
        recovered = recovery_seconds(lambda: ask(server, "bob", "bob-pw").status_code)
        assert ask(server, "alice", token).status_code == 200
    print(f"\ndatabase outage: {_summary(seen)}; recovered {recovered:.1f} s after it returned")
    assert set(seen["cached login"]) == {200}
    assert set(seen["new login"]) == {503}
    assert set(seen["wrong password"]) == {503}  # never a grant, never a 500
    assert set(seen["access token"]) == {503}
    assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert "database" in refused.json()["errors"][0]["message"]
    assert recovered < 10


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[LdapServer]:
    with LdapServer(tmp_path / "slapd") as server:
        yield server


def test_directory_outage(tmp_path: Path, slapd: LdapServer) -> None:
    lena = slapd.add_user("lena", "lena-pw")
    lou = slapd.add_user("lou", "lou-pw")
    ldap = {
        "url": slapd.url,
        "bind_dn": slapd.service_dn,
        "bind_password": slapd.service_password,
        "base_dn": slapd.suffix,
        "timeout": 2,
    }
    config = write_config(tmp_path / "regauth.yaml", {"ldap": ldap})
    data = tmp_path / "data"
    data.mkdir()  # admin commands use a data folder, never make one
    run_regauth(
        "user", "add", "dave", "--config", str(config), "--data-dir", str(data),
        cwd=tmp_path, input="dave-pw\n", check=True,
    )  # fmt: skip
    with RegauthServer(tmp_path, config=config, data_dir=data, workers=2) as server:
        warm(server, lena.uid, lena.password)
        slapd.stop()
        seen = during_outage(
            {
                "cached directory login": lambda: ask(server, lena.uid, lena.password).status_code,
                "new directory login": lambda: ask(server, lou.uid, lou.password).status_code,
                "database user": lambda: ask(server, "dave", "dave-pw").status_code,
            }
        )
        refused = ask(server, lou.uid, lou.password)
        slapd.start()
        recovered = recovery_seconds(lambda: ask(server, lou.uid, lou.password).status_code)
    print(f"\ndirectory outage: {_summary(seen)}; recovered {recovered:.1f} s after it returned")
    assert set(seen["cached directory login"]) == {200}
    assert set(seen["new directory login"]) == {503}
    assert set(seen["database user"]) == {200}  # the other backends keep working
    assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert recovered < 10


def test_identity_provider_outage(tmp_path: Path) -> None:
    accounts = {"ivy": Account(groups=["devs"]), "ike": Account(groups=["devs"])}
    with OidcProvider(tmp_path / "idp", redirect_uris=[], accounts=accounts) as idp:
        entry = provider_entry(idp, accept_access_tokens=True, audience=RESOURCE, timeout=2)
        config = write_config(tmp_path / "regauth.yaml", {"oidc": {"providers": [entry]}})
        with RegauthServer(
            tmp_path, config=config, data_dir=tmp_path / "data", workers=2
        ) as server:
            seen_jwt = idp.tokens("ivy", resource=RESOURCE)["access_token"]
            warm(server, "ivy", seen_jwt)
            new_opaque = idp.tokens("ike")["access_token"]
            idp.stop()
            seen = during_outage(
                {
                    "token seen before": lambda: ask(server, "ivy", seen_jwt).status_code,
                    "new token": lambda: ask(server, "ike", new_opaque).status_code,
                }
            )
            refused = ask(server, "ike", new_opaque)
            idp.start()  # its tokens are forgotten: a new one must work again
            fresh = idp.tokens("ike")["access_token"]
            recovered = recovery_seconds(lambda: ask(server, "ike", fresh).status_code)
    print(f"\nprovider outage: {_summary(seen)}; recovered {recovered:.1f} s after it returned")
    assert set(seen["token seen before"]) == {200}
    assert set(seen["new token"]) == {503}
    assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert recovered < 10


def _summary(seen: dict[str, list[int]]) -> str:
    parts = []
    for name, statuses in seen.items():
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        parts.append(f"{name} {counts}")
    return ", ".join(parts)
