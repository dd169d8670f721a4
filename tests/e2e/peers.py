"""Real peers for regauth's end-to-end tests.

Everything here runs on 127.0.0.1 only, on free ports, in folders the caller owns (pytest's
``tmp_path``), and needs no network and no daemon:

* :func:`build_oci_layout` writes a tiny OCI image layout with the standard library, so a test
  can push an image with ``skopeo copy oci:DIR:TAG docker://...`` without pulling anything.
* :func:`make_test_ca` makes a throwaway CA and a server certificate for ``127.0.0.1`` and
  ``localhost``, for an HTTPS registry (and for regauth itself).
* :class:`Registry` runs Debian's ``docker-registry`` (CNCF Distribution 2.8) with a config
  built from arguments, including an ``auth`` section such as ``{"token": {...}}``.
* :class:`Skopeo` and :class:`Podman` run the real clients, each isolated in its own folder:
  own auth file, storage, blob-info cache, policy and configuration files.
* :class:`StubTokenServer` is a tiny token server used by the harness self-test to prove the
  token path works with the real clients. It is not a reference implementation of anything.
* HTTP helpers (:func:`get_v2`, :func:`registry_catalog`, :func:`request_token`, ...) speak the
  registry and token protocols directly with httpx.

Only the standard library, ``cryptography``, ``pyyaml`` and ``httpx`` are used.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ContainersClient",
    "GrantPolicy",
    "OciImage",
    "Podman",
    "Registry",
    "RegistryStartError",
    "Scope",
    "ServerProcess",
    "ServerStartError",
    "Skopeo",
    "StubTokenServer",
    "TestCA",
    "TokenRequest",
    "Verify",
    "build_oci_layout",
    "decode_jwt_unverified",
    "free_port",
    "get_v2",
    "grant_everything",
    "make_test_ca",
    "parse_scope",
    "parse_www_authenticate",
    "registry_auth_from_yaml",
    "registry_catalog",
    "request_token",
    "require_binaries",
    "ssl_context",
]

#: What the httpx helpers accept for TLS verification: ``False`` (plain HTTP or no checks),
#: ``True`` (system CAs), a CA file, or a ready :class:`ssl.SSLContext`.
Verify = bool | str | Path | ssl.SSLContext


# --------------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binaries(*names: str) -> dict[str, str]:
    """Return ``{name: absolute path}``; raise :class:`FileNotFoundError` naming what is missing.

    The e2e fixtures turn this into a test failure (never a skip): CI installs the peers with
    ``apt-get install -y docker-registry skopeo podman buildah``.
    """
    found = {name: shutil.which(name) for name in names}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise FileNotFoundError(
            f"e2e peer(s) not found on PATH: {', '.join(missing)}. "
            "Install them with: apt-get install -y docker-registry skopeo podman buildah"
        )
    return {name: path for name, path in found.items() if path is not None}


def ssl_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client :class:`ssl.SSLContext` trusting only ``ca_file``."""
    return ssl.create_default_context(cafile=str(ca_file))


def _httpx_verify(verify: Verify) -> bool | ssl.SSLContext:
    if isinstance(verify, (str, Path)):
        return ssl_context(verify)
    return verify


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------------------------
# OCI image layout
# --------------------------------------------------------------------------------------------

_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_REF_NAME = "org.opencontainers.image.ref.name"


def build_oci_layout(directory: Path, tag: str = "1", marker: str = "hello") -> Path:
    """Write a one-layer linux/amd64 OCI image layout into ``directory`` and return it.

    Offline, stdlib only, and deterministic: the same ``marker`` always gives the same digests,
    and a different ``marker`` gives a different layer, config and manifest. The layer holds
    ``/hello.txt`` whose content includes ``marker``. Calling it again on the same directory
    with another ``tag`` adds (or replaces) that tag in ``index.json``, so one layout can hold
    several images. Accepted by ``skopeo copy oci:DIR:TAG ...`` and, once pushed, by
    ``podman pull``.
    """
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    content = f"regauth e2e test image\nmarker: {marker}\n".encode()
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(content))
    layer_tar = tar_buffer.getvalue()
    layer = put(gzip.compress(layer_tar, mtime=0))

    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.regauth.test.marker": marker}},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"],
        },
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "regauth tests/e2e/peers.py"}
        ],
    }
    config_desc = put(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": _OCI_MANIFEST,
        "config": {"mediaType": _OCI_CONFIG, **config_desc},
        "layers": [{"mediaType": _OCI_LAYER_GZIP, **layer}],
    }
    manifest_desc = put(json.dumps(manifest, sort_keys=True).encode())

    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = directory / "index.json"
    index: dict[str, Any] = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(_REF_NAME) != tag
    ] + [{"mediaType": _OCI_MANIFEST, **manifest_desc, "annotations": {_REF_NAME: tag}}]
    index_path.write_text(json.dumps(index, indent=2))
    return directory


@dataclass(frozen=True)
class OciImage:
    """One tagged image in an OCI layout, with the digests a test will assert on."""

    layout: Path
    tag: str
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]

    @property
    def ref(self) -> str:
        """The skopeo source reference, ``oci:LAYOUT:TAG``."""
        return f"oci:{self.layout}:{self.tag}"

    @classmethod
    def load(cls, layout: Path, tag: str = "1") -> OciImage:
        """Read the digests of ``tag`` from a layout written by :func:`build_oci_layout`."""
        index = json.loads((layout / "index.json").read_text())
        for desc in index["manifests"]:
            if desc.get("annotations", {}).get(_REF_NAME) == tag:
                digest: str = desc["digest"]
                blob = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
                manifest = json.loads(blob.read_text())
                return cls(
                    layout=layout,
                    tag=tag,
                    manifest_digest=digest,
                    config_digest=manifest["config"]["digest"],
                    layer_digests=tuple(layer["digest"] for layer in manifest["layers"]),
                )
        raise KeyError(f"tag {tag!r} not in {layout / 'index.json'}")


# --------------------------------------------------------------------------------------------
# Test CA
# --------------------------------------------------------------------------------------------


@dataclass
class TestCA:
    """A throwaway CA and a server certificate for ``127.0.0.1``/``localhost``, as PEM files.

    ``cert_dir`` holds only ``ca.crt``: pass it as ``--cert-dir`` to skopeo/podman. (It must not
    hold ``server.key``: containers/image treats a ``*.key`` without a matching ``*.cert`` in a
    cert dir as a broken client certificate.)
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    cert_dir: Path
    _key: ec.EllipticCurvePrivateKey = field(repr=False)
    _cert: x509.Certificate = field(repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only this CA (for httpx ``verify=``)."""
        return ssl_context(self.ca_cert)

    def issue(
        self,
        name: str,
        *,
        common_name: str | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server_auth: bool = True,
    ) -> tuple[Path, Path]:
        """Issue a P-256 leaf certificate signed by this CA; write ``NAME.crt``/``NAME.key``.

        Useful beyond TLS: e.g. a token-signing certificate chained to this CA, so the
        registry's ``rootcertbundle`` can be ``ca.crt`` while tokens carry the leaf in ``x5c``.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if server_auth:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path, key_path = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        return cert_path, key_path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_test_ca(directory: Path) -> TestCA:
    """Create a CA and a server cert for ``127.0.0.1`` (IP SAN) and ``localhost`` (DNS SAN).

    Writes ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key`` into ``directory`` and
    ``cert-dir/ca.crt`` (the folder to give skopeo/podman as ``--cert-dir``). P-256 keys,
    valid from an hour ago for seven days.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regauth e2e test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, key)
    cert_dir = directory / "cert-dir"
    cert_dir.mkdir(exist_ok=True)
    shutil.copyfile(ca_cert, cert_dir / "ca.crt")
    ca = TestCA(
        directory=directory,
        ca_cert=ca_cert,
        ca_key=ca_key,
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        cert_dir=cert_dir,
        _key=key,
        _cert=cert,
    )
    ca.issue("server", common_name="localhost", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    return ca


# --------------------------------------------------------------------------------------------
# docker-registry
# --------------------------------------------------------------------------------------------


class ServerStartError(RuntimeError):
    """A server process did not come up; the message ends with the tail of its log."""

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(f"{message}; log tail:\n{log_tail}")
        self.log_tail = log_tail


class RegistryStartError(ServerStartError):
    """docker-registry did not start (bad config, missing rootcertbundle, ...)."""


class ServerProcess:
    """A child process serving HTTP(S), its stdout and stderr appended to ``log_path``.

    :meth:`start` spawns it and polls ``ready_url`` until ``ready(response)`` (default: any
    status below 500); it raises :class:`ServerStartError` with the log tail if the process
    exits first or the timeout passes. :meth:`stop` sends SIGTERM, waits, then SIGKILLs.
    :class:`Registry` is built on it, and it is meant for running regauth itself too, e.g.
    ``ServerProcess([sys.executable, "-m", "regauth", ...], log_path=...,
    ready_url=f"http://127.0.0.1:{port}/...")``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready_url: str,
        verify: Verify = False,
        ready: Callable[[httpx.Response], bool] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.ready_url = ready_url
        self.verify = verify
        self.ready = ready or (lambda response: response.status_code < 500)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Self:
        if self._proc is not None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )
        try:
            self._wait_ready(self._proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        name = Path(self.argv[0]).name
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(
            verify=_httpx_verify(self.verify), timeout=1.0, trust_env=False
        ) as client:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise ServerStartError(
                        f"{name} exited with status {proc.returncode} before answering "
                        f"{self.ready_url}",
                        _tail(self.log_text()),
                    )
                try:
                    if self.ready(client.get(self.ready_url)):
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise ServerStartError(
            f"{name} did not answer {self.ready_url} within {self.start_timeout}s",
            _tail(self.log_text()),
        )

    def log_text(self) -> str:
        """Everything the process has written so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit status.

        Safe to call twice (the second call returns None).
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def registry_auth_from_yaml(text: str) -> dict[str, Any]:
    """Parse a registry ``auth`` section printed as YAML, with or without the ``auth:`` key.

    ``"auth:\\n  token:\\n    realm: ..."`` and ``"token:\\n  realm: ..."`` both give
    ``{"token": {"realm": ...}}``, ready for ``Registry(auth=...)``.
    """
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a YAML mapping, got {type(data).__name__}")
    if set(data) == {"auth"}:
        data = data["auth"]
    if not isinstance(data, dict):
        raise ValueError("the auth section must be a mapping")
    return data


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class Registry:
    """A ``docker-registry serve CONFIG`` child process on a free 127.0.0.1 port.

    The config is built from the arguments: filesystem storage under ``workdir``, deletes
    enabled, optional TLS (the test CA's server certificate) and an optional ``auth`` section,
    e.g. ``{"token": {"realm": ..., "service": ..., "issuer": ..., "rootcertbundle": ...}}`` or
    ``{"htpasswd": {"realm": ..., "path": ...}}``. ``extra_config`` is deep-merged last.

    Every ``REGISTRY_*`` variable is removed from the child's environment: the registry maps
    them onto its config (a client's ``REGISTRY_AUTH_FILE`` becomes a bogus ``auth.file`` key).

    Use as a context manager, or ``start()``/``stop()``. :meth:`start` waits until ``GET /v2/``
    answers 200 or 401 and raises :class:`RegistryStartError` with the log tail otherwise. If
    the free port is taken between choosing and binding, it retries on another port.

    Token rejections are a bare 401 on the wire; the reason (``untrusted key``, ``another
    audience``, ...) is only in :meth:`log_text`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        auth: Mapping[str, Any] | None = None,
        tls: TestCA | None = None,
        log_level: str = "info",
        extra_config: Mapping[str, Any] | None = None,
        binary: str = "docker-registry",
        start_timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        #: extra environment for the registry, applied after every inherited REGISTRY_* is gone
        self.env = dict(env or {})
        self.auth = dict(auth) if auth is not None else None
        self.tls = tls
        self.log_level = log_level
        self.extra_config = dict(extra_config or {})
        self.binary = binary
        self.start_timeout = start_timeout
        self.storage_dir = workdir / "storage"
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "registry.log"
        self.port = 0
        self.config: dict[str, Any] = {}
        self._server: ServerProcess | None = None

    # -- addresses ---------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT`` (no trailing slash)."""
        return f"{self.scheme}://{self.host}"

    @property
    def verify(self) -> bool | ssl.SSLContext:
        """What httpx needs to talk to this registry: ``False`` or the test CA's context."""
        return self.tls.ssl_context() if self.tls else False

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server else None

    def ref(self, repository: str, tag: str = "1") -> str:
        """``127.0.0.1:PORT/REPOSITORY:TAG`` (for podman)."""
        return f"{self.host}/{repository}:{tag}"

    def docker_ref(self, repository: str, tag: str = "1") -> str:
        """``docker://127.0.0.1:PORT/REPOSITORY:TAG`` (for skopeo)."""
        return f"docker://{self.ref(repository, tag)}"

    # -- lifecycle ---------------------------------------------------------------------------
    def _build_config(self) -> dict[str, Any]:
        http: dict[str, Any] = {
            "addr": self.host,
            # A fixed per-instance secret silences "No HTTP secret provided".
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            http["tls"] = {
                "certificate": str(self.tls.server_cert),
                "key": str(self.tls.server_key),
            }
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": self.log_level, "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": True},
                # No background upload purging goroutine in a short-lived test registry.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http,
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.auth is not None:
            config["auth"] = self.auth
        return _deep_merge(config, self.extra_config)

    def start(self) -> Self:
        if self._server is not None:
            return self
        require_binaries(self.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(self.env)
        for _attempt in range(3):
            self.port = free_port()
            self.config = self._build_config()
            self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
            server = self._process(env)
            try:
                self._server = server.start()
                return self
            except ServerStartError as exc:
                if "address already in use" not in exc.log_tail:
                    raise RegistryStartError(
                        f"docker-registry did not start (config {self.config_path})",
                        exc.log_tail,
                    ) from exc
                # The free port was taken between choosing and binding: try another one.
        raise RegistryStartError(
            "docker-registry kept failing to bind a port", _tail(self.log_text())
        )

    def _process(self, env: Mapping[str, str]) -> ServerProcess:
        return ServerProcess(
            [self.binary, "serve", str(self.config_path)],
            log_path=self.log_path,
            ready_url=f"{self.url}/v2/",
            verify=self.verify,
            ready=lambda response: response.status_code in (200, 401),
            env=env,
            cwd=self.workdir,
            start_timeout=self.start_timeout,
        )

    def restart(self, timeout: float = 5.0) -> Self:
        """Stop and start again on the same port with the same config, as an operator restarts
        a registry so it reads its ``rootcertbundle`` (and 3.x its ``jwks``) again: the
        registry reads them only at start."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(self.env)
        self._server = self._process(env).start()
        return self

    def log_text(self) -> str:
        """Everything the registry has logged so far (access log and application log)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Registry(url={self.url!r}, auth={list(self.auth or {})}, pid={self.pid})"


# --------------------------------------------------------------------------------------------
# Clients: skopeo and podman
# --------------------------------------------------------------------------------------------

#: Accept any image: the system policy.json could be stricter on another machine.
_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def _bool_flag(name: str, value: bool) -> str:
    # Go's flag package needs "--flag=false"; "--flag false" would make "false" an argument.
    return f"--{name}={'true' if value else 'false'}"


class ContainersClient:
    """Base for the containers/image tools, run isolated in ``workdir``.

    The child gets a minimal environment (``PATH`` and ``LANG`` from ours plus the variables
    below), so nothing from the developer's shell or CI leaks in:

    * ``HOME``, ``XDG_RUNTIME_DIR``, ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``TMPDIR``,
      ``DOCKER_CONFIG``: all inside ``workdir``, so no ``~/.docker/config.json``,
      ``~/.config/containers/*`` or ``/run/containers/0/auth.json`` of the host is read.
    * ``REGISTRY_AUTH_FILE`` and ``--authfile``: ``workdir/auth.json`` (created empty, as
      podman refuses a missing one).
    * ``CONTAINERS_CONF``, ``CONTAINERS_REGISTRIES_CONF``, ``CONTAINERS_STORAGE_CONF``: files in
      ``workdir``; ``policy.json`` (accept anything) in ``workdir`` and
      ``HOME/.config/containers`` (containers/image prefers that one to the system one).
    * ``_CONTAINERS_ROOTLESS_UID=65534`` when running as root. containers/image puts its
      blob-info cache (``blob-info-cache-v1.boltdb``: which digests exist in which repository,
      used to try cross-repository mounts) in ``/var/lib/containers/cache`` for root, and
      neither skopeo 1.9 nor podman 4.3 has a flag or variable for it. This variable is how
      podman tells containers/image the "real" uid after it re-execs in a user namespace;
      with it, the cache goes to ``$XDG_DATA_HOME/containers/cache`` inside ``workdir``.
      Without it, one test's cache would make another test's push try ``?mount=...&from=...``
      and so ask the token server for different scopes. (podman's own rootless detection
      looks at ``_CONTAINERS_USERNS_CONFIGURED`` and the euid, so podman still runs as root.)

    Every command runs with a timeout (``subprocess.TimeoutExpired`` is raised: a hang is a
    bug, not an expected failure), captures text output and never raises on a non-zero exit.
    All results are also kept in :attr:`history` for failure reports.
    """

    binary: ClassVar[str] = ""
    FAKE_ROOTLESS_UID: ClassVar[str] = "65534"

    def __init__(
        self,
        workdir: Path,
        *,
        tls_verify: bool = True,
        cert_dir: Path | None = None,
        timeout: float = 60.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        require_binaries(self.binary)
        self.workdir = workdir
        self.run_root = self._make_run_root()
        self.tls_verify = tls_verify
        self.cert_dir = cert_dir
        self.timeout = timeout
        self.history: list[subprocess.CompletedProcess[str]] = []

        self.home = workdir / "home"
        self.config_dir = self.home / ".config"
        self.data_dir = self.home / ".local" / "share"
        self.runtime_dir = workdir / "xdg-runtime"
        self.tmp_dir = workdir / "tmp"
        self.authfile = workdir / "auth.json"
        self.policy = workdir / "policy.json"
        self.containers_conf = workdir / "containers.conf"
        self.registries_conf = workdir / "registries.conf"
        self.storage_conf = workdir / "storage.conf"
        self.registries_d = workdir / "registries.d"
        for folder in (
            self.config_dir / "containers",
            self.data_dir,
            self.runtime_dir,
            self.tmp_dir,
            self.registries_d,
            self.home / ".docker",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        self.authfile.write_text('{"auths": {}}\n')
        policy = json.dumps(_POLICY, indent=2)
        self.policy.write_text(policy)
        (self.config_dir / "containers" / "policy.json").write_text(policy)
        # Only fully qualified references in tests; never ask for a short-name registry.
        self.registries_conf.write_text(
            'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n'
        )
        self.containers_conf.write_text(self._containers_conf())
        self.storage_conf.write_text(self._storage_conf())

        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_CONFIG_HOME": str(self.config_dir),
            "XDG_DATA_HOME": str(self.data_dir),
            "TMPDIR": str(self.tmp_dir),
            "DOCKER_CONFIG": str(self.home / ".docker"),
            "REGISTRY_AUTH_FILE": str(self.authfile),
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
        }
        if os.geteuid() == 0:
            self.env["_CONTAINERS_ROOTLESS_UID"] = self.FAKE_ROOTLESS_UID
        self.env.update(extra_env or {})

    @property
    def blob_info_cache(self) -> Path:
        """Where this client's containers/image blob-info cache lives (inside ``workdir``)."""
        return self.data_dir / "containers" / "cache" / "blob-info-cache-v1.boltdb"

    def _containers_conf(self) -> str:
        return ""

    def _storage_conf(self) -> str:
        return (
            "[storage]\n"
            'driver = "vfs"\n'
            f'runroot = "{self.run_root}"\n'
            f'graphroot = "{self.workdir / "storage"}"\n'
        )

    def global_args(self) -> list[str]:
        """Flags placed before the subcommand."""
        return []

    def _make_run_root(self) -> Path:
        return self.workdir / "storage-run"

    def close(self) -> None:
        """Remove what this client keeps outside ``workdir`` (podman's short runroot)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(
        self, *args: str, input: str | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``BINARY GLOBAL_ARGS ARGS...`` isolated; the escape hatch for anything else."""
        result = subprocess.run(
            [self.binary, *self.global_args(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=self.timeout if timeout is None else timeout,
            check=False,
        )
        self.history.append(result)
        return result

    def tls_args(self, prefix: str = "") -> list[str]:
        """``--tls-verify=BOOL`` (and ``--cert-dir=DIR``), with an optional ``src-``/``dest-``."""
        args = [_bool_flag(f"{prefix}tls-verify", self.tls_verify)]
        if self.cert_dir is not None:
            args.append(f"--{prefix}cert-dir={self.cert_dir}")
        return args

    def login(self, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        """``login --username USER --password-stdin HOST`` into :attr:`authfile`.

        The password goes through stdin, never the command line. Both tools ask the token
        endpoint with no scope (``account`` + ``service``) and then call ``GET /v2/`` with the
        token; that must answer 200. Exit 0 and ``Login Succeeded!`` on stdout on success.
        Failures: see the subclass docstring.
        """
        return self.run(
            "login",
            f"--authfile={self.authfile}",
            *self.tls_args(),
            "--username",
            user,
            "--password-stdin",
            host,
            input=password,
        )

    def logout(self, host: str) -> subprocess.CompletedProcess[str]:
        """``logout HOST``: forget the credentials for ``HOST`` in :attr:`authfile` (offline).

        Exit 0 and ``Removed login credentials for HOST``; if there were none, exit 1
        (skopeo) or 125 (podman) with ``not logged into HOST``.
        """
        return self.run("logout", f"--authfile={self.authfile}", host)

    def logged_in_hosts(self) -> list[str]:
        """The hosts that have credentials in :attr:`authfile`."""
        return sorted(json.loads(self.authfile.read_text()).get("auths", {}))

    def output(self, result: subprocess.CompletedProcess[str]) -> str:
        """stdout and stderr together, for message assertions."""
        return f"{result.stdout}\n{result.stderr}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workdir={str(self.workdir)!r}, tls_verify={self.tls_verify})"


class Skopeo(ContainersClient):
    """skopeo 1.9, isolated (see :class:`ContainersClient`).

    Global flags: ``--policy`` (our accept-anything policy), ``--registries.d`` (an empty
    folder: no signature lookaside), ``--tmpdir`` (inside ``workdir``). Registry commands add
    ``--retry-times=0`` so a failure is reported at once instead of after retries, and
    ``--authfile``/``--tls-verify``/``--cert-dir`` (``--src-*``/``--dest-*`` for ``copy``).

    Exit codes observed on skopeo 1.9.3: 0 on success, 1 on every failure, with one line
    ``time="..." level=fatal msg="..."`` on stderr (newlines inside it escaped as ``\\n``).
    What the message says, by cause (see also the method docstrings):

    * wrong password at ``login``: ``logging into "HOST": invalid username/password``.
    * no credentials, and the token server (or htpasswd registry) answers 401: ``unable to
      retrieve auth token: invalid username/password: unauthorized`` (token) or
      ``unauthorized: authentication required`` (htpasswd).
    * wrong ``--creds``/``--dest-creds``: ``unable to retrieve auth token: invalid
      username/password: unauthorized: <the token server's error message>``.
    * a token without the action (registry answers 401 ``insufficient_scope``):
      ``denied: requested access to the resource is denied`` (containers/image derives
      ``denied`` from the challenge's ``error="insufficient_scope"``), followed by
      ``unauthorized: authentication required`` or, after a HEAD, ``error parsing HTTP 401
      response body: unexpected end of JSON input``. Exceptions: ``delete`` prints the raw
      body and ``(401 Unauthorized)``, no ``denied``; ``list-tags`` wraps it in ``unable to
      retrieve auth token: invalid username/password: errors: denied: ...``.
    * HTTPS with an unknown CA: ``x509: certificate signed by unknown authority``.
    * registry down: ``pinging container registry HOST: ... connect: connection refused``
      (no retry with ``--retry-times=0``).
    """

    binary: ClassVar[str] = "skopeo"

    def global_args(self) -> list[str]:
        return [
            f"--policy={self.policy}",
            f"--registries.d={self.registries_d}",
            f"--tmpdir={self.tmp_dir}",
        ]

    def _registry_args(self, prefix: str = "") -> list[str]:
        return ["--retry-times=0", f"--{prefix}authfile={self.authfile}", *self.tls_args(prefix)]

    def login(self, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        """``skopeo login``; see :meth:`ContainersClient.login`.

        Wrong password or unknown user (htpasswd registry, or a token server answering 401):
        exit 1, ``level=fatal msg="logging into \\"HOST\\": invalid username/password"``.
        Registry without auth: exit 0 whatever the password (nothing is checked).
        """
        return super().login(host, user, password)

    def copy(self, src: str, dest: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``skopeo copy SRC DEST`` (e.g. ``oci:DIR:1`` to ``docker://HOST/alice/app:1``).

        Uses the stored login; pass ``--dest-creds=USER:PW``, ``--src-no-creds`` etc. in
        ``extra``. The OCI layout's digests are kept (no recompression). Token lacks ``push``:
        exit 1, ``denied: requested access to the resource is denied``; no credentials: exit 1,
        ``unauthorized``.
        """
        return self.run(
            "copy",
            *self._registry_args("src-"),
            *self._registry_args("dest-")[1:],
            *extra,
            src,
            dest,
        )

    def inspect(self, ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``skopeo inspect REF`` (``docker://HOST/REPO:TAG``); JSON on stdout on success.

        Missing image: exit 1, ``manifest unknown``. Token lacks ``pull``: exit 1,
        ``denied: requested access to the resource is denied``.
        """
        return self.run("inspect", *self._registry_args(), *extra, ref)

    def delete(self, ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``skopeo delete REF``: deletes the manifest by the digest the tag points to.

        Needs ``pull`` (to resolve the tag) and ``delete`` on the repository, asked for as
        ``repository:NAME:*``, and ``storage.delete.enabled`` on the registry (which
        :class:`Registry` sets). Without ``delete``: exit 1, ``Failed to delete ...:
        {"errors":[{"code":"UNAUTHORIZED",...}]} (401 Unauthorized)``: no ``denied`` here.
        """
        return self.run("delete", *self._registry_args(), *extra, ref)

    def list_tags(self, ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``skopeo list-tags docker://HOST/REPO``.

        stdout is ``{"Repository": "HOST/REPO", "Tags": [...]}``.
        """
        return self.run("list-tags", *self._registry_args(), *extra, ref)


class Podman(ContainersClient):
    """podman 4.3 as root with throwaway storage (see :class:`ContainersClient`).

    Global flags, and why (this machine has no systemd, no journald, no D-Bus):

    * ``--root``, ``--runroot``: images and state of our own, not
      ``/var/lib/containers/storage`` and ``/run/containers/storage``. The root is in
      ``workdir``; the runroot cannot be: podman refuses a runroot longer than 50 characters
      ("Error: the specified runroot is longer than 50 characters"; it holds unix sockets,
      whose paths are limited), and pytest's ``tmp_path`` is longer. So it is a fresh
      ``mkdtemp`` under the system temp folder (``/tmp/regauth-podman-XXXXXXXX``), removed by
      :meth:`close` (the fixtures call it).
    * ``--storage-driver=vfs``: no overlay mounts (no kernel overlay/fuse needed), plain copies.
    * ``--cgroup-manager=cgroupfs``: with ``systemd`` (the default where systemd runs, and
      Debian's old ``/etc/containers/libpod.conf`` still says so) podman prints four warnings
      ("no systemd user session available ... Falling back to --cgroup-manager=cgroupfs") on
      every command, which pollutes the stderr we assert on.
    * ``--events-backend=file``: with ``journald`` every command logs ``Unable to write image
      event: ... /run/systemd/journal/socket: sendmsg: no such file or directory``.
    * ``--tmpdir``, ``--network-config-dir``, ``--volumepath``: otherwise podman creates
      ``/run/libpod``, ``/etc/containers/networks`` (or ``/etc/cni/net.d/cni.lock``),
      ``/run/containers/networks`` and ``/var/lib/containers/storage/volumes``.
    * ``containers.conf``: ``lock_type = "file"`` (else ``/dev/shm/libpod_lock``, shared by
      every podman on the machine), and the events log file inside ``workdir``.

    podman 4.3 has no ``--retry``/``--retry-delay`` (added in 4.7?): pull/push retry network
    errors (e.g. connection refused) a few times with a delay, but not 401/403 answers.

    Exit codes observed on podman 4.3.1: 0 on success, 125 on every failure, with
    ``Error: ...`` as the last stderr line (multi-line errors are printed as they are):

    * wrong password at ``login``: ``Error: logging into "HOST": invalid username/password``.
    * no credentials, token server answers 401: ``unable to retrieve auth token: invalid
      username/password: unauthorized``; htpasswd registry: ``unauthorized: authentication
      required``.
    * a token without the action: ``denied: requested access to the resource is denied``.
    * a push whose blob mount is refused makes containers/image 5.23 log ``level=error
      msg="Failed to parse the authentication scope from the given challenge"``: the
      registry's challenge lists two scopes separated by a space, which it cannot parse. The
      push still goes on (and fails or succeeds on its own merits).
    * registry down: three ``Failed, retrying in 1s ... (N/3)`` warnings, then the error:
      about 3 s.
    """

    binary: ClassVar[str] = "podman"
    MAX_RUNROOT: ClassVar[int] = 50

    def _make_run_root(self) -> Path:
        base = tempfile.gettempdir()
        if len(base) > self.MAX_RUNROOT - 24:
            base = "/tmp"
        return Path(tempfile.mkdtemp(prefix="regauth-podman-", dir=base))

    def close(self) -> None:
        shutil.rmtree(self.run_root, ignore_errors=True)

    def _containers_conf(self) -> str:
        return (
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.workdir / "events.log"}"\n'
            'lock_type = "file"\n'
            f'tmp_dir = "{self.workdir / "libpod-tmp"}"\n'
            f'volume_path = "{self.workdir / "volumes"}"\n'
            f'image_copy_tmp_dir = "{self.tmp_dir}"\n'
            "[network]\n"
            f'network_config_dir = "{self.workdir / "networks"}"\n'
        )

    def global_args(self) -> list[str]:
        return [
            f"--root={self.workdir / 'storage'}",
            f"--runroot={self.run_root}",
            "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            f"--tmpdir={self.workdir / 'libpod-tmp'}",
            f"--network-config-dir={self.workdir / 'networks'}",
            f"--volumepath={self.workdir / 'volumes'}",
        ]

    def login(self, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        """``podman login``; see :meth:`ContainersClient.login`.

        Wrong password: exit 125, ``Error: logging into "HOST": invalid username/password``.
        """
        return super().login(host, user, password)

    def pull(self, ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``podman pull REF`` (``HOST/REPO:TAG``); the image ID is the last stdout line.

        Token lacks ``pull``: exit 125, ``Error: initializing source docker://...: reading
        manifest 1 in HOST/REPO: errors:`` / ``denied: requested access to the resource is
        denied``. Nothing the registry accepts: ``unauthorized``.
        """
        return self.run("pull", f"--authfile={self.authfile}", *self.tls_args(), *extra, ref)

    def push(
        self, local_ref: str, dest: str | None = None, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        """``podman push LOCAL [DEST]``; ``DEST`` defaults to ``LOCAL`` (``docker://`` implied).

        podman stores layers uncompressed and recompresses on push, so the pushed layer and
        manifest digests differ from the OCI layout's; the config digest (image ID) stays.
        """
        where = [dest] if dest is not None else []
        return self.run(
            "push", f"--authfile={self.authfile}", *self.tls_args(), *extra, local_ref, *where
        )

    def tag(self, image: str, *new_names: str) -> subprocess.CompletedProcess[str]:
        """``podman tag IMAGE NEW_NAME...`` (local only)."""
        return self.run("tag", image, *new_names)

    def images(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``podman images``; pass ``--format=json`` or see :meth:`image_names`."""
        return self.run("images", *extra)

    def image_names(self) -> list[str]:
        """All ``REPOSITORY:TAG`` names in this podman's storage."""
        result = self.images("--format=json")
        if result.returncode != 0:
            raise RuntimeError(f"podman images failed: {result.stderr}")
        images = json.loads(result.stdout or "[]")
        return sorted({name for image in images for name in image.get("Names") or []})

    def rmi(self, *refs: str) -> subprocess.CompletedProcess[str]:
        """``podman rmi --force REF...``."""
        return self.run("rmi", "--force", *refs)


# --------------------------------------------------------------------------------------------
# Protocol helpers
# --------------------------------------------------------------------------------------------

_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """``'Bearer realm="r",service="s"'`` -> ``("bearer", {"realm": "r", "service": "s"})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): re.sub(r"\\(.)", r"\1", m.group(2))
        if m.group(2) is not None
        else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def get_v2(url: str, token: str | None = None, *, verify: Verify = False) -> httpx.Response:
    """``GET URL/v2/``, with ``Authorization: Bearer TOKEN`` if given.

    200 means the registry accepts the token (any valid token will do, even with no access);
    401 with a ``WWW-Authenticate: Bearer realm=...`` challenge means no or a rejected token.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(
        f"{url.rstrip('/')}/v2/", headers=headers, verify=_httpx_verify(verify), trust_env=False
    )


def registry_catalog(url: str, token: str | None = None, *, verify: Verify = False) -> list[str]:
    """``GET URL/v2/_catalog`` and return its repositories; raises on a non-200 answer.

    With token auth the token needs ``{"type": "registry", "name": "catalog", "actions": ["*"]}``.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(
        f"{url.rstrip('/')}/v2/_catalog",
        params={"n": 1000},
        headers=headers,
        verify=_httpx_verify(verify),
        trust_env=False,
    )
    response.raise_for_status()
    repositories: list[str] = response.json().get("repositories") or []
    return repositories


def request_token(
    realm: str,
    *,
    service: str | None = None,
    scopes: Iterable[str] = (),
    username: str | None = None,
    password: str | None = None,
    account: str | None = None,
    verify: Verify = False,
) -> httpx.Response:
    """Ask a token endpoint the way containers/image does: ``GET REALM?service=&scope=...``.

    One ``scope`` parameter per scope, ``account`` defaults to ``username``, HTTP Basic when
    both ``username`` and ``password`` are given (anonymous otherwise).
    """
    params: list[tuple[str, str | int | float | bool | None]] = []
    if service is not None:
        params.append(("service", service))
    params += [("scope", scope) for scope in scopes]
    if account or username:
        params.append(("account", account or username or ""))
    auth = (
        httpx.BasicAuth(username, password)
        if username is not None and password is not None
        else None
    )
    return httpx.get(realm, params=params, auth=auth, verify=_httpx_verify(verify), trust_env=False)


def decode_jwt_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(header, claims)`` of a compact JWS without checking the signature."""
    header_b64, claims_b64, _signature = token.split(".")
    return json.loads(_b64url_decode(header_b64)), json.loads(_b64url_decode(claims_b64))


@dataclass(frozen=True)
class Scope:
    """One parsed scope, ``type[(class)]:name:actions``."""

    type: str
    name: str
    actions: tuple[str, ...]

    def access(self, actions: Iterable[str] | None = None) -> dict[str, Any]:
        """The JWT ``access`` entry granting ``actions`` (default: all requested)."""
        granted = self.actions if actions is None else tuple(actions)
        return {"type": self.type, "name": self.name, "actions": list(granted)}


def parse_scope(text: str) -> Scope:
    """Parse ``repository:127.0.0.1:5000/team/app:pull,push`` (actions from the right; the
    name may hold ``host:port``; a ``(class)`` suffix on the type is dropped)."""
    rest, _, actions = text.rpartition(":")
    type_, _, name = rest.partition(":")
    if not type_ or not name:
        raise ValueError(f"bad scope {text!r}")
    return Scope(
        type=re.sub(r"\(.*\)$", "", type_),
        name=name,
        actions=tuple(a for a in actions.split(",") if a),
    )


# --------------------------------------------------------------------------------------------
# A stub token server for the harness self-test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRequest:
    """What a client sent to :class:`StubTokenServer`."""

    method: str
    path: str
    params: dict[str, list[str]]
    username: str | None
    scopes: tuple[str, ...]  # every scope parameter, space-separated lists split


#: ``grant(username, requested scopes) -> access entries``; ``username`` is None if anonymous.
GrantPolicy = Callable[[str | None, list[Scope]], list[dict[str, Any]]]


def grant_everything(username: str | None, scopes: list[Scope]) -> list[dict[str, Any]]:
    """Default stub policy: an authenticated user gets every action asked for."""
    return [scope.access() for scope in scopes]


class StubTokenServer:
    """A minimal Distribution token server on 127.0.0.1, in a thread.

    Just enough for the harness self-test (and for comparing regauth's behaviour to a known
    baseline): ``GET /token`` with HTTP Basic checked against ``users``; ES256 tokens carrying
    the signing certificate in ``x5c``; ``grant`` decides the access list. Wrong credentials,
    or anonymous requests, get 401 with a Basic challenge. Every request is recorded in
    :attr:`requests`. Use :meth:`registry_auth` as ``Registry(auth=...)``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        users: Mapping[str, str],
        service: str = "registry.test",
        issuer: str = "stub-token-server",
        grant: GrantPolicy = grant_everything,
        expires_in: int = 300,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.grant = grant
        self.expires_in = expires_in
        self.requests: list[TokenRequest] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stub token signer")])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .sign(self._key, hashes.SHA256())
        )
        self.rootcertbundle = directory / "stub-token-signer.crt"
        self.rootcertbundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_auth(self) -> dict[str, Any]:
        """The registry ``auth`` section that trusts this server."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.rootcertbundle),
            }
        }

    def mint(self, username: str | None, access: list[dict[str, Any]]) -> str:
        """An ES256 JWT for ``access``, as the registry 2.8 wants it (``aud`` a string,
        integer ``exp``/``nbf``/``iat``, ``x5c`` in standard base64, raw r||s signature)."""
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean; see server.requests

            def _send(
                self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _unauthorized(self, message: str) -> None:
                self._send(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]},
                    {"WWW-Authenticate": 'Basic realm="stub-token-server"'},
                )

            def do_POST(self) -> None:  # only refresh-token grants come by POST
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._send(405, {"errors": [{"code": "UNSUPPORTED", "message": "use GET"}]})

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = parse_qs(url.query)
                username = password = None
                auth = self.headers.get("Authorization", "")
                if auth.lower().startswith("basic "):
                    decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
                    username, _, password = decoded.partition(":")
                scopes = tuple(s for value in params.get("scope", []) for s in value.split())
                server.requests.append(TokenRequest("GET", url.path, params, username, scopes))
                if url.path != "/token":
                    self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
                    return
                if username is None:
                    self._unauthorized("authentication required")
                    return
                if server.users.get(username) != password:
                    self._unauthorized("invalid username or password")
                    return
                access = server.grant(username, [parse_scope(s) for s in scopes])
                token = server.mint(username, access)
                self._send(
                    200,
                    {
                        "token": token,
                        "access_token": token,
                        "expires_in": server.expires_in,
                        "issued_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                )

        return Handler

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="stub-token-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
