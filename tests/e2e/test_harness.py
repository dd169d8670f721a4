"""Self-test of the e2e harness against docker-registry WITHOUT regauth.

Registries with no auth, with ``auth: htpasswd`` and with ``auth: token`` backed by the stub
token server in peers.py, over plain HTTP and over HTTPS with the test CA. The exit codes and
message fragments asserted here are the ones the harness docstrings document.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import peers
import pytest
from cryptography import x509
from peers import (
    OciImage,
    Podman,
    Registry,
    RegistryStartError,
    Scope,
    ServerProcess,
    ServerStartError,
    Skopeo,
    StubTokenServer,
    TestCA,
    build_oci_layout,
    decode_jwt_unverified,
    get_v2,
    parse_scope,
    parse_www_authenticate,
    registry_auth_from_yaml,
    registry_catalog,
    request_token,
)

RegistryFactory = Callable[..., Registry]
SkopeoFactory = Callable[..., Skopeo]
PodmanFactory = Callable[..., Podman]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["http", "https"])
def tls(request: pytest.FixtureRequest, test_ca: TestCA) -> TestCA | None:
    """Run a test over plain HTTP (None) and over HTTPS with the test CA."""
    return test_ca if request.param == "https" else None


def client_options(tls: TestCA | None) -> dict[str, Any]:
    """Client flags for a registry: HTTP needs --tls-verify=false, HTTPS the CA's cert dir."""
    if tls is None:
        return {"tls_verify": False, "cert_dir": None}
    return {"tls_verify": True, "cert_dir": tls.cert_dir}


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    # Cost 4 (bcrypt's minimum) keeps the registry's password check fast.
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


SYSTEM_BLOB_INFO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")


def stat_or_none(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------------------------
# building blocks, no peers
# ---------------------------------------------------------------------------------------------


def test_oci_layout_is_deterministic_and_marker_dependent(tmp_path: Path) -> None:
    a = OciImage.load(build_oci_layout(tmp_path / "a", marker="one"))
    again = OciImage.load(build_oci_layout(tmp_path / "a-again", marker="one"))
    b = OciImage.load(build_oci_layout(tmp_path / "b", marker="two"))
    assert a.manifest_digest == again.manifest_digest
    assert len({a.manifest_digest, b.manifest_digest}) == 2
    assert len({a.config_digest, b.config_digest}) == 2
    assert len({a.layer_digests, b.layer_digests}) == 1 + 1

    layout = tmp_path / "a"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "1"}
    blobs = layout / "blobs" / "sha256"
    for blob in blobs.iterdir():  # every blob is stored under its own digest
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    manifest = json.loads((blobs / a.manifest_digest.split(":")[1]).read_text())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads((blobs / a.config_digest.split(":")[1]).read_text())
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    layer_tar = gzip.decompress((blobs / a.layer_digests[0].split(":")[1]).read_bytes())
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None
        assert b"marker: one" in member.read()

    # A second tag in the same layout is added next to the first one.
    build_oci_layout(layout, tag="2", marker="two")
    assert OciImage.load(layout, "2").manifest_digest == b.manifest_digest
    assert OciImage.load(layout, "1").manifest_digest == a.manifest_digest
    with pytest.raises(KeyError):
        OciImage.load(layout, "3")


def test_test_ca_files(test_ca: TestCA) -> None:
    ca = x509.load_pem_x509_certificate(test_ca.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(test_ca.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sorted(p.name for p in test_ca.cert_dir.iterdir()) == ["ca.crt"]
    assert (test_ca.directory / "server.key").stat().st_mode & 0o077 == 0


def test_protocol_helpers() -> None:
    assert parse_scope("repository:127.0.0.1:5000/team/app:pull,push") == Scope(
        "repository", "127.0.0.1:5000/team/app", ("pull", "push")
    )
    assert parse_scope("repository(plugin):team/app:pull") == Scope(
        "repository", "team/app", ("pull",)
    )
    assert parse_scope("registry:catalog:*").access() == {
        "type": "registry",
        "name": "catalog",
        "actions": ["*"],
    }
    assert parse_www_authenticate(
        'Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push"'
    ) == (
        "bearer",
        {"realm": "https://a/token", "service": "reg", "scope": "repository:x:pull,push"},
    )
    wrapped = "auth:\n  token:\n    realm: https://a/token\n    service: reg\n"
    assert registry_auth_from_yaml(wrapped) == {
        "token": {"realm": "https://a/token", "service": "reg"}
    }
    assert registry_auth_from_yaml("token:\n  realm: r\n") == {"token": {"realm": "r"}}


# ---------------------------------------------------------------------------------------------
# Registry process
# ---------------------------------------------------------------------------------------------


def test_registry_ignores_registry_env(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both would break the registry if they reached it: a bogus auth.file key and a wrong port.
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/nonexistent/auth.json")
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", "127.0.0.1:1")
    registry = registry_factory()
    assert registry.url == f"http://127.0.0.1:{registry.port}"
    response = get_v2(registry.url)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.config["storage"]["delete"] == {"enabled": True}
    assert "GET /v2/ HTTP/1.1" in registry.log_text()
    registry.stop()
    registry.stop()  # idempotent
    with pytest.raises(httpx.TransportError):
        get_v2(registry.url)


def test_registry_start_failure_shows_log(tmp_path: Path) -> None:
    # auth.token without rootcertbundle: the registry refuses to start.
    broken = Registry(
        tmp_path / "broken",
        auth={"token": {"realm": "http://x/token", "service": "s", "issuer": "i"}},
    )
    with pytest.raises(RegistryStartError) as info:
        broken.start()
    assert "rootcertbundle" in str(info.value)
    assert broken.pid is None


def test_registry_retries_when_its_port_is_taken(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, peers.free_port()])
        monkeypatch.setattr(peers, "free_port", lambda: next(ports))
        registry = registry_factory()
        assert registry.port != taken
        assert "address already in use" in registry.log_text()
        assert get_v2(registry.url).status_code == 200


def test_server_process(tmp_path: Path) -> None:
    port = peers.free_port()
    server = ServerProcess(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        log_path=tmp_path / "http.log",
        ready_url=f"http://127.0.0.1:{port}/",
        cwd=tmp_path,
    )
    with server:
        assert server.pid is not None
        assert httpx.get(f"http://127.0.0.1:{port}/http.log").status_code == 200
    assert server.pid is None
    assert "GET / HTTP/1.1" in server.log_text()

    crashing = ServerProcess(
        [sys.executable, "-c", "print('boom', flush=True); raise SystemExit(3)"],
        log_path=tmp_path / "crash.log",
        ready_url=f"http://127.0.0.1:{peers.free_port()}/",
    )
    with pytest.raises(ServerStartError, match=r"(?s)exited with status 3.*boom"):
        crashing.start()


def test_registry_tls_and_auth_config(
    registry_factory: RegistryFactory, tmp_path: Path, test_ca: TestCA
) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
    with Registry(
        tmp_path / "r", tls=test_ca, auth={"htpasswd": {"realm": "t", "path": str(htpasswd)}}
    ) as registry:
        assert registry.url.startswith("https://127.0.0.1:")
        response = get_v2(registry.url, verify=test_ca.ca_cert)
        assert response.status_code == 401
        assert parse_www_authenticate(response.headers["WWW-Authenticate"]) == (
            "basic",
            {"realm": "t"},
        )
        assert (
            httpx.get(
                f"{registry.url}/v2/", auth=("alice", "secret"), verify=registry.verify
            ).status_code
            == 200
        )
    assert registry.pid is None


# ---------------------------------------------------------------------------------------------
# No auth: skopeo and podman round trips
# ---------------------------------------------------------------------------------------------


def test_skopeo_roundtrip_without_auth(
    registry_factory: RegistryFactory,
    skopeo: SkopeoFactory,
    oci_image: OciImage,
    tls: TestCA | None,
) -> None:
    registry = registry_factory(tls=tls)
    client = skopeo(**client_options(tls))
    ref = registry.docker_ref("alice/app", "1")
    system_cache_before = stat_or_none(SYSTEM_BLOB_INFO_CACHE)

    copied = client.copy(oci_image.ref, ref)
    assert copied.returncode == 0, copied.stderr
    assert "Writing manifest to image destination" in copied.stdout

    inspected = client.inspect(ref)
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["Digest"] == oci_image.manifest_digest  # skopeo keeps the layout's digests
    assert info["Layers"] == list(oci_image.layer_digests)
    assert info["Labels"] == {"org.regauth.test.marker": "hello"}

    tags = client.list_tags(f"docker://{registry.host}/alice/app")
    assert tags.returncode == 0, tags.stderr
    assert json.loads(tags.stdout)["Tags"] == ["1"]
    assert registry_catalog(registry.url, verify=registry.verify) == ["alice/app"]

    deleted = client.delete(ref)
    assert deleted.returncode == 0, deleted.stderr
    gone = client.inspect(ref)
    assert gone.returncode == 1
    assert "manifest unknown" in gone.stderr

    # The blob-info cache went to the client's own folder, not /var/lib/containers/cache.
    assert client.blob_info_cache.is_file()
    assert stat_or_none(SYSTEM_BLOB_INFO_CACHE) == system_cache_before


def test_podman_pull_push_without_auth(
    registry_factory: RegistryFactory,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
    tls: TestCA | None,
) -> None:
    registry = registry_factory(tls=tls)
    system_cache_before = stat_or_none(SYSTEM_BLOB_INFO_CACHE)
    assert (
        skopeo(**client_options(tls))
        .copy(oci_image.ref, registry.docker_ref("alice/app"))
        .returncode
        == 0
    )

    client = podman(**client_options(tls))
    pulled = client.pull(registry.ref("alice/app"))
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.split()[-1] == oci_image.config_digest.removeprefix("sha256:")

    tagged = client.tag(registry.ref("alice/app"), registry.ref("bob/copy", "2"))
    assert tagged.returncode == 0, tagged.stderr
    assert client.image_names() == [registry.ref("alice/app"), registry.ref("bob/copy", "2")]
    pushed = client.push(registry.ref("bob/copy", "2"))
    assert pushed.returncode == 0, pushed.stderr
    pushed_to = client.push(registry.ref("alice/app"), f"docker://{registry.ref('bob/other', '3')}")
    assert pushed_to.returncode == 0, pushed_to.stderr
    assert sorted(registry_catalog(registry.url, verify=registry.verify)) == [
        "alice/app",
        "bob/copy",
        "bob/other",
    ]

    info = json.loads(
        skopeo(**client_options(tls)).inspect(registry.docker_ref("bob/copy", "2")).stdout
    )
    assert info["Labels"] == {"org.regauth.test.marker": "hello"}
    # podman recompresses layers on push, so only the config (image ID) is the same.
    assert client.images("--format=json").returncode == 0
    assert client.blob_info_cache.is_file()
    assert stat_or_none(SYSTEM_BLOB_INFO_CACHE) == system_cache_before


def test_clients_are_isolated(
    registry_factory: RegistryFactory, skopeo: SkopeoFactory, podman: PodmanFactory, tmp_path: Path
) -> None:
    registry = registry_factory()
    first, second = skopeo(tls_verify=False), skopeo(tls_verify=False)
    assert first.login(registry.host, "anyone", "anything").returncode == 0  # no auth: accepted
    assert first.logged_in_hosts() == [registry.host]
    assert second.logged_in_hosts() == []
    assert first.workdir != second.workdir
    assert podman(tls_verify=False).image_names() == []
    for client in (first, second):
        assert all(not k.startswith("REGISTRY_") or k == "REGISTRY_AUTH_FILE" for k in client.env)
        for key in ("HOME", "XDG_RUNTIME_DIR", "TMPDIR", "REGISTRY_AUTH_FILE", "CONTAINERS_CONF"):
            assert Path(client.env[key]).is_relative_to(tmp_path)


def test_https_without_the_ca_is_refused(
    registry_factory: RegistryFactory, skopeo: SkopeoFactory, test_ca: TestCA
) -> None:
    registry = registry_factory(tls=test_ca)
    result = skopeo(tls_verify=True).inspect(registry.docker_ref("alice/app"))
    assert result.returncode == 1
    assert "certificate signed by unknown authority" in result.stderr


# ---------------------------------------------------------------------------------------------
# htpasswd
# ---------------------------------------------------------------------------------------------


def test_htpasswd_login_copy_pull_push(
    registry_factory: RegistryFactory,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
    tls: TestCA | None,
    tmp_path: Path,
) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
    registry = registry_factory(
        tls=tls, auth={"htpasswd": {"realm": "regauth-test", "path": str(htpasswd)}}
    )
    sk = skopeo(**client_options(tls))
    ref = registry.docker_ref("alice/app")

    wrong = sk.login(registry.host, "alice", "wrong")
    assert wrong.returncode == 1
    assert f'logging into \\"{registry.host}\\": invalid username/password' in wrong.stderr
    assert sk.logged_in_hosts() == []
    anonymous = sk.copy(oci_image.ref, ref)
    assert anonymous.returncode == 1
    assert "unauthorized: authentication required" in anonymous.stderr

    right = sk.login(registry.host, "alice", "secret")
    assert right.returncode == 0, right.stderr
    assert "Login Succeeded!" in right.stdout
    assert sk.logged_in_hosts() == [registry.host]
    assert sk.copy(oci_image.ref, ref).returncode == 0
    assert json.loads(sk.inspect(ref).stdout)["Digest"] == oci_image.manifest_digest
    assert json.loads(sk.list_tags(f"docker://{registry.host}/alice/app").stdout)["Tags"] == ["1"]

    pm = podman(**client_options(tls))
    wrong = pm.login(registry.host, "alice", "wrong")
    assert wrong.returncode == 125
    assert f'Error: logging into "{registry.host}": invalid username/password' in wrong.stderr
    anonymous = pm.pull(registry.ref("alice/app"))
    assert anonymous.returncode == 125
    assert "unauthorized: authentication required" in anonymous.stderr
    assert pm.login(registry.host, "alice", "secret").returncode == 0
    assert pm.pull(registry.ref("alice/app")).returncode == 0
    assert pm.push(registry.ref("alice/app"), registry.ref("alice/again", "2")).returncode == 0
    logout = pm.logout(registry.host)
    assert (logout.returncode, logout.stdout.strip()) == (
        0,
        f"Removed login credentials for {registry.host}",
    )
    again = pm.logout(registry.host)
    assert again.returncode == 125
    assert f"not logged into {registry.host}" in again.stderr

    assert sk.delete(ref).returncode == 0
    assert sk.logout(registry.host).returncode == 0
    assert sk.logged_in_hosts() == []
    again = sk.logout(registry.host)
    assert again.returncode == 1
    assert f"not logged into {registry.host}" in again.stderr


# ---------------------------------------------------------------------------------------------
# token auth, with the stub token server standing in for regauth
# ---------------------------------------------------------------------------------------------


def stub_grant(user: str | None, scopes: list[Scope]) -> list[dict[str, Any]]:
    """alice: everything asked; carol: pull only; bob: nothing."""
    if user == "alice":
        return [scope.access() for scope in scopes]
    if user == "carol":
        return [scope.access([a for a in scope.actions if a == "pull"]) for scope in scopes]
    return []


def test_token_auth_with_real_clients(
    registry_factory: RegistryFactory,
    skopeo: SkopeoFactory,
    podman: PodmanFactory,
    oci_image: OciImage,
    tls: TestCA | None,
    tmp_path: Path,
) -> None:
    users = {"alice": "pw-a", "bob": "pw-b", "carol": "pw-c"}
    with StubTokenServer(tmp_path / "tokens", users=users, grant=stub_grant) as tokens:
        registry = registry_factory(tls=tls, auth=tokens.registry_auth())
        ref = registry.docker_ref("alice/app")

        # The challenge, and what a token does at /v2/ and /v2/_catalog.
        challenge = get_v2(registry.url, verify=registry.verify)
        assert challenge.status_code == 401
        assert parse_www_authenticate(challenge.headers["WWW-Authenticate"]) == (
            "bearer",
            {"realm": tokens.realm, "service": tokens.service},
        )
        token = request_token(
            tokens.realm,
            service=tokens.service,
            scopes=["registry:catalog:*"],
            username="alice",
            password="pw-a",
        ).json()["token"]
        header, claims = decode_jwt_unverified(token)
        assert header["alg"] == "ES256"
        assert len(header["x5c"]) == 1
        assert claims["aud"] == tokens.service
        assert isinstance(claims["exp"], int)
        assert get_v2(registry.url, token, verify=registry.verify).status_code == 200
        assert registry_catalog(registry.url, token, verify=registry.verify) == []
        empty = request_token(
            tokens.realm, service=tokens.service, username="bob", password="pw-b"
        ).json()["token"]
        assert (
            get_v2(registry.url, empty, verify=registry.verify).status_code == 200
        )  # any valid token
        with pytest.raises(httpx.HTTPStatusError):
            registry_catalog(registry.url, empty, verify=registry.verify)

        # skopeo: login asks with no scope, then the push asks for pull,push.
        alice = skopeo(**client_options(tls))
        assert alice.login(registry.host, "alice", "wrong").returncode == 1
        tokens.requests.clear()
        assert alice.login(registry.host, "alice", "pw-a").returncode == 0
        assert [(r.username, r.scopes, r.params["account"]) for r in tokens.requests] == [
            ("alice", (), ["alice"])
        ]
        tokens.requests.clear()
        copied = alice.copy(oci_image.ref, ref)
        assert copied.returncode == 0, copied.stderr
        assert [r.scopes for r in tokens.requests] == [("repository:alice/app:pull,push",)]

        anonymous = skopeo(**client_options(tls)).inspect(ref)
        assert anonymous.returncode == 1
        assert (
            "unable to retrieve auth token: invalid username/password: unauthorized"
            in anonymous.stderr
        )

        bob = skopeo(**client_options(tls))
        assert bob.login(registry.host, "bob", "pw-b").returncode == 0  # login needs no access
        for denied in (bob.inspect(ref), bob.copy(oci_image.ref, ref)):
            assert denied.returncode == 1
            assert "denied: requested access to the resource is denied" in denied.stderr

        carol = skopeo(**client_options(tls))
        assert carol.login(registry.host, "carol", "pw-c").returncode == 0
        assert carol.inspect(ref).returncode == 0
        no_push = carol.copy(oci_image.ref, registry.docker_ref("carol/app"))
        assert no_push.returncode == 1
        assert "denied: requested access to the resource is denied" in no_push.stderr
        no_delete = carol.delete(ref)
        assert no_delete.returncode == 1
        assert "UNAUTHORIZED" in no_delete.stderr
        assert "(401 Unauthorized)" in no_delete.stderr
        assert "denied" not in no_delete.stderr

        # podman
        pm = podman(**client_options(tls))
        assert pm.login(registry.host, "carol", "pw-c").returncode == 0
        assert pm.pull(registry.ref("alice/app")).returncode == 0
        refused = pm.push(registry.ref("alice/app"), registry.ref("carol/app"))
        assert refused.returncode == 125
        assert "denied: requested access to the resource is denied" in refused.stderr
        assert pm.login(registry.host, "alice", "pw-a").returncode == 0
        tokens.requests.clear()
        pushed = pm.push(registry.ref("alice/app"), registry.ref("alice/other"))
        assert pushed.returncode == 0, pushed.stderr
        # podman's blob-info cache knows the layer is in alice/app, so it tries a mount from there.
        assert ("repository:alice/other:pull,push", "repository:alice/app:pull") in [
            r.scopes for r in tokens.requests
        ]

        tokens.requests.clear()
        assert alice.delete(ref).returncode == 0
        assert [r.scopes for r in tokens.requests] == [("repository:alice/app:*",)]
        assert "authorized request" in registry.log_text()
