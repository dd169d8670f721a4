"""Two ``regauth serve`` instances on one PostgreSQL database, as behind a load balancer.

Each instance has its own data folder but the same token signing key (``token.key`` and
``token.certificate`` in the configuration), as a real deployment must. Accounts are changed
with the ``regauth`` command line, as an operator would, and the tests check what each
instance answers at the token endpoint afterwards:

* revocable secrets (personal access tokens, robot secrets) are looked up on every request,
  so a revocation applies on the very next request to any instance;
* everything an instance caches (password checks, grants) follows the change log: on the
  next request once the NOTIFY has arrived (``quiet_pair`` polls only every 30 s, to show
  it), and within ``database.sync_interval`` (0.5 s) by polling alone.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography import x509
from sqlalchemy import text

from regauth.keys import generate_key_pair
from regauth.store.database import Database, SchemaState
from tests.postgres import PostgresCluster
from tests.regauth_process import RegauthServer, run_regauth

#: the brief: a change is enforced everywhere "within a second"; we poll up to 2 s
PROPAGATION_LIMIT = 2.0


@dataclass
class Instance:
    name: str
    server: RegauthServer
    config: Path
    data_dir: Path

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``regauth ARGS --config CONFIG --data-dir DATA``: the operator on this instance."""
        return run_regauth(
            *args,
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            cwd=self.data_dir.parent,
            input=input,
            check=check,
        )

    def ask(self, username: str | None, password: str | None, *scopes: str) -> httpx.Response:
        """``GET /auth`` the way skopeo and podman ask."""
        params: list[tuple[str, str]] = [("service", "registry")]
        params += [("scope", scope) for scope in scopes]
        if username is not None:
            params.append(("account", username))
        auth = (username, password) if username is not None and password is not None else None
        return httpx.get(self.server.url + "/auth", params=params, auth=auth, timeout=10)


@dataclass
class Pair:
    a: Instance
    b: Instance
    database_url: str
    certificate: x509.Certificate

    def verified_claims(self, response: httpx.Response) -> dict[str, Any]:
        """The token's claims, verified with the shared certificate (so: signed with the
        shared key, whichever instance issued it)."""
        assert response.status_code == 200, response.text
        claims: dict[str, Any] = jwt.decode(
            response.json()["token"],
            key=self.certificate.public_key(),  # type: ignore[arg-type]
            algorithms=["ES256"],
            audience="registry",
            issuer="regauth",
        )
        return claims

    def actions(self, response: httpx.Response) -> set[str]:
        """The actions granted on the only scope asked for."""
        (entry,) = self.verified_claims(response)["access"]
        return set(entry["actions"])


@contextlib.contextmanager
def make_pair(postgres: PostgresCluster, root: Path, **database: Any) -> Iterator[Pair]:
    database_url = postgres.create_database()
    keys = root / "shared-keys"
    keys.mkdir()
    key_path, cert_path = generate_key_pair(keys, "ES256")
    document = {
        "database": {"url": database_url, **database},
        "token": {"key": str(key_path), "certificate": str(cert_path)},
    }
    instances = []
    for name in ("a", "b"):
        workdir = root / name
        workdir.mkdir()
        config = workdir / "regauth.yaml"
        config.write_text(yaml.safe_dump(document))
        data_dir = workdir / "data"
        # both start at once on the empty database: the migration lock lets one create it
        server = RegauthServer(workdir, config=config, data_dir=data_dir)
        instances.append(Instance(name, server, config, data_dir))
    try:
        for instance in instances:
            instance.server.wait_ready(timeout=60)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        yield Pair(instances[0], instances[1], database_url, certificate)
    finally:
        for instance in instances:
            instance.server.stop()


@pytest.fixture(scope="module")
def pair(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with make_pair(postgres, tmp_path_factory.mktemp("instances")) as made:
        yield made


@pytest.fixture(scope="module")
def quiet_pair(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """Two instances that poll the change log only every 30 s: what they enforce at once,
    they learned by NOTIFY."""
    with make_pair(postgres, tmp_path_factory.mktemp("quiet"), sync_interval=30) as made:
        yield made


def wait_for(condition: Callable[[], bool], limit: float = PROPAGATION_LIMIT) -> float:
    """Poll ``condition`` every 50 ms for up to ``limit`` seconds; return how long it took,
    or fail."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            raise AssertionError(f"not seen within {limit} s")
        time.sleep(0.05)


def add_user(instance: Instance, username: str, password: str) -> None:
    instance.cli("user", "add", username, input=password + "\n")


# ------------------------------------------------------------------------------ tests


def test_both_instances_share_the_database_and_the_signing_key(pair: Pair) -> None:
    database = Database(pair.database_url)
    try:
        assert database.status().state is SchemaState.CURRENT
        with database.read() as session:
            versions = session.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        assert versions == 1  # migrated once, although both started on the empty database
    finally:
        database.dispose()
    for instance in (pair.a, pair.b):
        anonymous = instance.ask(None, None)  # no scope: a token with empty access
        assert pair.verified_claims(anonymous)["access"] == []
    # a key of their own would have been generated in each data folder
    assert not (pair.a.data_dir / "token-signing.key").exists()
    assert not (pair.b.data_dir / "token-signing.key").exists()


def test_personal_access_token_works_on_both_and_revocation_is_immediate(pair: Pair) -> None:
    add_user(pair.a, "pat-user", "pat-user-password")
    created = json.loads(
        pair.b.cli("token", "create", "--user", "pat-user", "--name", "laptop", "--json").stdout
    )
    secret, token_id = created["secret"], created["id"]
    scope = "repository:pat-user/app:pull,push"
    for instance in (pair.a, pair.b):
        assert pair.actions(instance.ask("pat-user", secret, scope)) == {"pull", "push"}

    pair.a.cli("token", "revoke", str(token_id))
    # no waiting: the very next request to the other instance is refused
    refused = pair.b.ask("pat-user", secret, scope)
    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert pair.a.ask("pat-user", secret, scope).status_code == 401
    # the password still works
    assert pair.b.ask("pat-user", "pat-user-password", scope).status_code == 200


def test_password_change_reaches_the_other_instance(pair: Pair) -> None:
    add_user(pair.a, "carol", "carol-old")
    scope = "repository:carol/app:pull"
    for instance in (pair.a, pair.b):  # both remember the successful check now
        assert instance.ask("carol", "carol-old", scope).status_code == 200
        assert instance.ask("carol", "carol-old", scope).status_code == 200

    pair.a.cli("user", "passwd", "carol", input="carol-new\n")
    took = wait_for(lambda: pair.b.ask("carol", "carol-old", scope).status_code == 401)
    assert took <= PROPAGATION_LIMIT
    assert pair.a.ask("carol", "carol-old", scope).status_code == 401
    for instance in (pair.a, pair.b):
        assert pair.actions(instance.ask("carol", "carol-new", scope)) == {"pull"}


def test_disabled_user_is_refused_by_the_other_instance(pair: Pair) -> None:
    add_user(pair.a, "dave", "dave-password")
    scope = "repository:dave/app:pull"
    for instance in (pair.a, pair.b):
        assert instance.ask("dave", "dave-password", scope).status_code == 200

    pair.b.cli("user", "disable", "dave")
    wait_for(lambda: pair.a.ask("dave", "dave-password", scope).status_code == 401)
    assert pair.b.ask("dave", "dave-password", scope).status_code == 401

    pair.b.cli("user", "enable", "dave")
    wait_for(lambda: pair.a.ask("dave", "dave-password", scope).status_code == 200)


def test_grant_and_group_membership_reach_the_other_instance(pair: Pair) -> None:
    add_user(pair.a, "erin", "erin-password")
    team = "repository:team/app:pull,push"
    ops = "repository:ops/tool:pull,push"
    for instance in (pair.a, pair.b):
        assert pair.actions(instance.ask("erin", "erin-password", team)) == set()
        assert pair.actions(instance.ask("erin", "erin-password", ops)) == set()

    pair.a.cli("grant", "add", "--user", "erin", "--pattern", "team/*", "--role", "push")
    wait_for(lambda: pair.actions(pair.b.ask("erin", "erin-password", team)) == {"pull", "push"})

    # a group grant needs the membership, which the other instance has cached with the
    # password check: the change log must drop that entry
    pair.b.cli("group", "add", "ops")
    pair.b.cli("grant", "add", "--group", "ops", "--pattern", "ops/*", "--role", "pull")
    assert pair.actions(pair.a.ask("erin", "erin-password", ops)) == set()
    pair.b.cli("group", "add-member", "ops", "erin")
    wait_for(lambda: pair.actions(pair.a.ask("erin", "erin-password", ops)) == {"pull"})
    assert pair.actions(pair.b.ask("erin", "erin-password", ops)) == {"pull"}


def test_robot_needs_a_grant_and_revocation_is_immediate(pair: Pair) -> None:
    created = json.loads(pair.a.cli("robot", "create", "builder", "--json").stdout)
    username, secret = created["username"], created["secret"]
    assert username == "robot+builder"
    scope = "repository:ci/app:pull,push"
    for instance in (pair.a, pair.b):
        response = instance.ask(username, secret, scope)
        claims = pair.verified_claims(response)
        assert claims["sub"] == "robot+builder"
        assert claims["access"] == [{"type": "repository", "name": "ci/app", "actions": []}]
        # nor anything else: robots have no namespace of their own
        assert pair.actions(instance.ask(username, secret, "repository:builder/x:pull")) == set()

    pair.b.cli("grant", "add", "--robot", "builder", "--pattern", "ci/*", "--role", "pull")
    for instance in (pair.a, pair.b):
        wait_for(lambda i=instance: pair.actions(i.ask(username, secret, scope)) == {"pull"})
    assert pair.actions(pair.a.ask(username, secret, "repository:other/app:pull")) == set()

    pair.a.cli("robot", "revoke", "builder")
    refused = pair.b.ask(username, secret, scope)
    assert refused.status_code == 401, refused.text


def test_a_change_reaches_the_other_instance_on_its_next_request(quiet_pair: Pair) -> None:
    """The other instance hears of a change by NOTIFY (it LISTENs on its own connection), so
    a password changed or a grant removed through one instance is enforced by the other on
    the next request, without waiting for the periodic poll."""
    pair = quiet_pair
    add_user(pair.a, "frank", "frank-old")
    added = pair.a.cli(
        "grant", "add", "--user", "frank", "--pattern", "frank-team/*", "--role", "push", "--json"
    )
    grant_id = str(json.loads(added.stdout)["id"])
    scope = "repository:frank-team/app:pull,push"
    wait_for(lambda: pair.actions(pair.b.ask("frank", "frank-old", scope)) == {"pull", "push"})
    for _ in range(3):  # remembered by b now
        assert pair.actions(pair.b.ask("frank", "frank-old", scope)) == {"pull", "push"}
    password = "frank-old"
    for attempt in range(5):  # each change enforced by b on its very next request
        pair.a.cli("grant", "remove", grant_id)
        assert pair.actions(pair.b.ask("frank", password, scope)) == set()
        new_password = f"frank-{attempt}"
        pair.a.cli("user", "passwd", "frank", input=new_password + "\n")
        assert pair.b.ask("frank", password, scope).status_code == 401
        password = new_password
        again = pair.a.cli(
            "grant",
            "add",
            "--user",
            "frank",
            "--pattern",
            "frank-team/*",
            "--role",
            "push",
            "--json",
        )
        grant_id = str(json.loads(again.stdout)["id"])
        assert pair.actions(pair.b.ask("frank", password, scope)) == {"pull", "push"}
