"""Key rotation through ``regauth keys``: the commands (exit codes, messages, ``--json``, the
trust files they write), the first start of an upgraded data folder, a configured key, and a
running runtime that follows each command on its next request, with a clock of the test's own
for the retirement window.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regauth.cli import main
from regauth.config import parse_config
from regauth.datadir import DataDir
from regauth.keys import LEEWAY, KeyMaterial, generate_key_pair
from regauth.oidc.login_state import LoginState, LoginStateCodec, derive_key
from regauth.runtime import Runtime, build_runtime
from regauth.web.app import create_app
from tests.conftest import bcrypt_hash

PASSWORD = "alice-pw"
CONFIG = {
    "users": {"alice": {"password": bcrypt_hash(PASSWORD)}},
    "acl": [{"match": {"account": "alice"}, "actions": ["*"]}],
    "token": {"expiration": 60},
}
LIFETIME = datetime.timedelta(seconds=60)


class Cli:
    def __init__(self, config: Path, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)  # as `regauth serve` would have

    def __call__(self, group: str, command: str, *args: str) -> Any:
        """``regauth GROUP COMMAND --config C --data-dir D ARGS`` (so ARGS may hold ``--``)."""
        options = ["--config", str(self.config), "--data-dir", str(self.data_dir)]
        return CliRunner().invoke(main, [group, command, *options, *args], catch_exceptions=False)

    def json(self, group: str, command: str, *args: str) -> Any:
        result = self(group, command, "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def refused(self, group: str, command: str, *args: str) -> str:
        """The one line a refused command prints (exit 2, nothing on stdout)."""
        result = self(group, command, *args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("regauth: ") and "Traceback" not in result.stderr
        return line

    def bundle_kids(self) -> list[str]:
        jwks = json.loads((self.data_dir / "jwks.json").read_text())
        return [key["kid"] for key in jwks["keys"]]

    def bundle_certificates(self) -> int:
        return len(x509.load_pem_x509_certificates((self.data_dir / "bundle.pem").read_bytes()))


def write_config(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(write_config(tmp_path, CONFIG), tmp_path / "data")


# ---------------------------------------------------------------------------------- commands


def test_keys_commands(cli: Cli) -> None:
    (first,) = cli.json("keys", "list")
    assert first["state"] == "active" and first["algorithm"] == "ES256"
    assert first["kid"] == first["libtrust_kid"]  # token.kid: libtrust (the default)
    assert cli.bundle_kids() == [first["kid"]]
    assert (cli.data_dir / "regauth.db").stat().st_mode & 0o077 == 0  # it holds private keys

    added = cli.json("keys", "add", "--algorithm", "RS256")
    assert added["state"] == "published" and added["algorithm"] == "RS256"
    assert cli.bundle_kids() == [first["kid"], added["kid"]]
    assert cli.bundle_certificates() == 2
    human = cli("keys", "add")
    assert human.exit_code == 0
    assert "published, not signing yet" in human.stdout
    assert "restart every registry" in human.stdout
    third = cli.json("keys", "list")[2]

    activated = cli.json("keys", "activate", added["libtrust_kid"].lower())  # any letter case
    assert activated["state"] == "active" and activated["thumbprint"] == added["thumbprint"]
    listed = {k["thumbprint"]: k for k in cli.json("keys", "list")}
    assert listed[first["thumbprint"]]["state"] == "published"
    assert listed[first["thumbprint"]]["deactivated_at"] is not None
    assert cli.bundle_kids()[0] == added["kid"]  # the signing key first

    line = cli.refused("keys", "retire", "--", added["thumbprint"][:8])
    assert "is the active signing key: activate another key first" in line
    retired = cli.json("keys", "retire", "--", first["thumbprint"])
    assert retired["state"] == "retired" and retired["published"] is True
    deactivated = datetime.datetime.fromisoformat(retired["deactivated_at"])
    until = datetime.datetime.fromisoformat(retired["published_until"])
    assert until == deactivated + LIFETIME + LEEWAY
    assert first["kid"] in cli.bundle_kids()  # its tokens may still be valid
    assert cli.json("keys", "retire", "--", first["thumbprint"])["state"] == "retired"  # idempotent

    # a key that never signed leaves the bundle as soon as it is retired
    never = cli("keys", "retire", "--", third["thumbprint"])
    assert never.exit_code == 0 and "no longer published" in never.stdout
    assert third["kid"] not in cli.bundle_kids()
    assert cli.bundle_certificates() == 2

    human_list = cli("keys", "list").stdout
    assert f"retired    {first['thumbprint']}" in human_list
    assert "published until" in human_list


def test_bad_key_ids_and_files_exit_2_with_one_line(cli: Cli, tmp_path: Path) -> None:
    cli.json("keys", "list")
    assert "at least 4 characters" in cli.refused("keys", "activate", "ab")
    assert "no signing key has the ID" in cli.refused("keys", "activate", "nothing-like-it")
    assert "no signing key has the ID" in cli.refused("keys", "retire", "x" * 5000)
    missing = cli.refused("keys", "add", "--key", str(tmp_path / "missing.pem"))
    assert "--key: file not found" in missing
    (tmp_path / "junk.pem").write_text("not a key")
    assert "not an unencrypted PEM private key" in cli.refused(
        "keys", "add", "--key", str(tmp_path / "junk.pem")
    )
    assert "--certificate needs --key" in cli.refused(
        "keys", "add", "--certificate", str(tmp_path / "junk.pem")
    )
    key, cert = generate_key_pair(tmp_path, "ES256")
    other_key, _ = generate_key_pair(_mkdir(tmp_path / "other"), "ES256")
    assert "the first certificate is not for the --key" in cli.refused(
        "keys", "add", "--key", str(other_key), "--certificate", str(cert)
    )
    assert "RS256 needs an RSA key" in cli.refused(
        "keys", "add", "--key", str(key), "--algorithm", "RS256"
    )
    unknown = cli("keys", "add", "--algorithm", "HS256")
    assert unknown.exit_code == 2 and "is not one of 'ES256', 'RS256'" in unknown.stderr
    assert cli.json("keys", "add", "--key", str(key), "--certificate", str(cert))["state"] == (
        "published"
    )
    assert "already in the key set" in cli.refused("keys", "add", "--key", str(key))
    assert len(cli.json("keys", "list")) == 2  # nothing half-written by the refusals


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_a_configured_key_is_not_managed(tmp_path: Path) -> None:
    key, cert = generate_key_pair(_mkdir(tmp_path / "keys"), "ES256")
    config = write_config(
        tmp_path, {**CONFIG, "token": {"key": str(key), "certificate": str(cert)}}
    )
    cli = Cli(config, tmp_path / "data")
    for command in (
        ("keys", "list"),
        ("keys", "add"),
        ("keys", "activate", "abcd"),
        ("keys", "retire", "abcd"),
    ):
        line = cli.refused(*command)
        assert "comes from token.key" in line
        assert "regauth keys add --key FILE --certificate FILE" in line
    # registry-config publishes exactly the configured key, as before
    out = tmp_path / "trust"
    result = CliRunner().invoke(
        main,
        [
            "registry-config",
            "--config",
            str(config),
            "--data-dir",
            str(cli.data_dir),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    bundle = x509.load_pem_x509_certificates((out / "bundle.pem").read_bytes())
    assert bundle == x509.load_pem_x509_certificates(cert.read_bytes())


def test_moving_from_a_configured_key_to_managed_keys(tmp_path: Path) -> None:
    """The procedure the refusal names: drop token.key, import the key, start: same key."""
    key, cert = generate_key_pair(_mkdir(tmp_path / "keys"), "ES256")
    cli = Cli(write_config(tmp_path, CONFIG), tmp_path / "data")
    imported = cli("keys", "add", "--key", str(key), "--certificate", str(cert))
    assert imported.exit_code == 0, imported.output
    assert "as the active signing key (there was none yet)" in imported.stdout
    (only,) = cli.json("keys", "list")
    assert only["state"] == "active"
    runtime = build_runtime(parse_config(CONFIG), DataDir(cli.data_dir))
    try:
        assert runtime.signing_key.chain[0] == x509.load_pem_x509_certificate(cert.read_bytes())
    finally:
        runtime.database.dispose()


def test_first_start_after_an_upgrade_imports_the_data_folders_key(tmp_path: Path) -> None:
    data = _mkdir(tmp_path / "data")
    key_path, cert_path = generate_key_pair(data, "ES256")  # what earlier versions left there
    runtime = build_runtime(parse_config(CONFIG), DataDir(data))
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        assert runtime.signing_key.chain[0] == certificate
        keys = runtime.signing_keys
        assert keys is not None
        (record,) = keys.key_set().records
        assert record.id == runtime.signing_key.thumbprint_kid
    finally:
        runtime.database.dispose()
    # a second start, even with the files gone, signs with the same key: it is in the database
    key_path.unlink()
    cert_path.unlink()
    again = build_runtime(parse_config(CONFIG), DataDir(data))
    try:
        assert again.signing_key.chain[0] == certificate
    finally:
        again.database.dispose()


def test_check_config_warns_about_zero_bytes_and_thumbprint_without_x5c(tmp_path: Path) -> None:
    from regauth.keys import self_signed_certificate

    bad = ec.derive_private_key(379, ec.SECP256R1())  # its x coordinate starts with a zero
    key = tmp_path / "bad.pem"
    key.write_bytes(
        bad.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert = tmp_path / "bad.crt"
    cert.write_bytes(self_signed_certificate(bad).public_bytes(serialization.Encoding.PEM))
    token = {"key": str(key), "certificate": str(cert), "kid": "thumbprint", "x5c": False}
    config = write_config(tmp_path, {"token": token})
    result = CliRunner().invoke(
        main, ["check-config", "--config", str(config), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if "warning:" in line]
    assert any("registry 2.x cannot verify" in line for line in warnings)
    assert any("starts with a zero byte" in line and "3.1" in line for line in warnings)
    # a good key, libtrust kids: no warning
    good, good_cert = generate_key_pair(_mkdir(tmp_path / "good"), "ES256")
    config = write_config(tmp_path, {"token": {"key": str(good), "certificate": str(good_cert)}})
    result = CliRunner().invoke(
        main, ["check-config", "--config", str(config), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0 and "warning" not in result.stdout
    # importing such a key warns too (it still works with x5c, kid: libtrust or jwks.json)
    cli = Cli(write_config(_mkdir(tmp_path / "m"), CONFIG), tmp_path / "m" / "data")
    imported = cli("keys", "add", "--key", str(key), "--certificate", str(cert))
    assert imported.exit_code == 0
    assert "starts with a zero byte" in imported.stderr


# ----------------------------------------------------------- a running runtime follows them


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


Served = tuple[Runtime, httpx.AsyncClient, FakeClock]


@pytest.fixture
async def served(cli: Cli) -> AsyncIterator[Served]:
    clock = FakeClock()
    runtime = build_runtime(parse_config(CONFIG), DataDir(cli.data_dir), clock=clock)
    transport = httpx.ASGITransport(app=create_app(runtime), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://regauth.test") as client:
        yield runtime, client, clock
    await runtime.stop()


async def token_kid(client: httpx.AsyncClient, *, password: str | None = PASSWORD) -> str:
    auth = ("alice", password) if password is not None else None
    params = {"service": "registry", "scope": "repository:alice/app:pull"}
    if password is None:
        params.pop("scope")
    response = await client.get("/auth", params=params, auth=auth)
    assert response.status_code == 200, response.text
    return str(jwt.get_unverified_header(response.json()["token"])["kid"])


async def served_kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


async def test_a_running_runtime_follows_every_command(cli: Cli, served: Served) -> None:
    runtime, client, clock = served
    old = runtime.signing_key.kid
    assert await token_kid(client) == old
    assert await token_kid(client) == old  # now a remembered grant
    assert await served_kids(client) == [old]

    added = cli.json("keys", "add")
    (cli.data_dir / "bundle.pem").unlink()  # the runtime writes it again as it reloads
    # published at once, on the very next request, and not signing
    assert await served_kids(client) == [old, added["kid"]]
    assert await token_kid(client) == old
    assert cli.bundle_certificates() == 2

    cli.json("keys", "activate", "--", added["thumbprint"])
    # every path signs with the new key on its next request: a remembered grant, a fresh
    # password check and an anonymous request alike
    assert await token_kid(client) == added["kid"]
    assert await token_kid(client, password=None) == added["kid"]
    runtime.authenticators.cache.invalidate_users({"alice"})
    assert await token_kid(client) == added["kid"]
    assert await served_kids(client) == [added["kid"], old]
    verified = (
        await client.get("/auth", params={"service": "registry"}, auth=("alice", PASSWORD))
    ).json()
    new_key = runtime.signing_key.private_key.public_key()
    jwt.decode(verified["token"], new_key, algorithms=["ES256"], audience="registry")

    retired = cli.json("keys", "retire", old)
    assert await served_kids(client) == [added["kid"], old]  # its tokens may still be valid
    clock.now = datetime.datetime.fromisoformat(retired["published_until"]) - datetime.timedelta(
        seconds=1
    )
    assert await served_kids(client) == [added["kid"], old]
    clock.now += datetime.timedelta(seconds=1)  # no token it signed can still be valid
    assert await served_kids(client) == [added["kid"]]
    assert await token_kid(client) == added["kid"]


async def test_login_cookies_survive_a_rotation(cli: Cli, served: Served) -> None:
    runtime, _client, _clock = served
    codec = LoginStateCodec(derive_key(runtime.login_secret))
    cookie = codec.encode(LoginState.new("corp", now=datetime.datetime.now().timestamp()))
    added = cli.json("keys", "add")
    cli.json("keys", "activate", "--", added["thumbprint"])
    await runtime.reload_keys()
    assert runtime.signing_key.kid == added["kid"]
    # the cookie key does not come from the signing key: a login in flight still finishes
    assert LoginStateCodec(derive_key(runtime.login_secret)).decode(cookie, "corp").provider == (
        "corp"
    )
    again = build_runtime(parse_config(CONFIG), DataDir(cli.data_dir))
    try:
        assert again.login_secret == runtime.login_secret  # shared through the database
    finally:
        again.database.dispose()


async def test_anonymous_requests_follow_without_a_credential_cache(
    cli: Cli, tmp_path: Path
) -> None:
    """With nothing cached there is no cache lookup to catch up before; the anonymous path
    catches up by itself."""
    runtime = build_runtime(
        parse_config({**CONFIG, "credential_cache": {"ttl": 0}}), DataDir(cli.data_dir)
    )
    transport = httpx.ASGITransport(app=create_app(runtime), client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            old = await token_kid(client, password=None)
            added = cli.json("keys", "add")
            cli.json("keys", "activate", "--", added["thumbprint"])
            assert old != added["kid"]
            assert await token_kid(client, password=None) == added["kid"]
    finally:
        await runtime.stop()


async def test_a_reload_that_cannot_read_the_database_is_tried_again(
    cli: Cli, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, client, _clock = served
    store = runtime.signing_keys
    assert store is not None
    monkeypatch.setattr(runtime.keys, "RETRY_SECONDS", 0.05)
    real_key_set = store.key_set
    failures = [OSError("database away")]

    def flaky_key_set() -> Any:
        if failures:
            raise failures.pop()
        return real_key_set()

    monkeypatch.setattr(store, "key_set", flaky_key_set)
    old = await token_kid(client)
    added = cli.json("keys", "add")
    cli.json("keys", "activate", "--", added["thumbprint"])
    assert await token_kid(client) == old  # this reload failed: the old key signs on
    assert not failures
    for _ in range(100):  # the retry follows within RETRY_SECONDS
        if runtime.signing_key.kid == added["kid"]:
            break
        await asyncio.sleep(0.01)
    assert await token_kid(client) == added["kid"]


def test_a_thumbprint_that_starts_with_a_dash(cli: Cli, tmp_path: Path) -> None:
    """One thumbprint in 64 starts with "-". regauth makes none; an imported one is typed
    after "--", which the hints show and the error for a forgotten "--" names."""
    from regauth.keys import generate_private_key, public_jwk
    from regauth.protocol.keyid import jwk_thumbprint

    def dash_key() -> tuple[Any, str]:
        while True:
            private = generate_private_key("ES256")
            thumbprint = jwk_thumbprint(public_jwk(private))
            # not "-h...": click would take that for -h, the help option
            if thumbprint.startswith("-") and not thumbprint.startswith("-h"):
                return private, thumbprint

    private, thumbprint = dash_key()
    key = tmp_path / "dash.pem"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cli.json("keys", "list")
    added = cli("keys", "add", "--key", str(key))
    assert added.exit_code == 0, added.output
    assert f"regauth keys activate -- {thumbprint}" in added.stdout  # copy-pasteable
    forgot = CliRunner().invoke(
        main, ["keys", "activate", "--data-dir", str(cli.data_dir), thumbprint[:8]]
    )
    assert forgot.exit_code == 2
    assert "a KID that starts with - goes after --: regauth keys activate -- KID" in forgot.stderr
    assert cli.json("keys", "activate", "--", thumbprint[:8])["thumbprint"] == thumbprint
    assert all(not k["thumbprint"].startswith("-") for k in cli.json("keys", "list")[:-1])
    for _ in range(200):  # about three would start with "-" if nothing prevented it
        assert not KeyMaterial.generate("ES256").thumbprint.startswith("-")
