"""pytest fixtures for the end-to-end tests: real docker-registry, skopeo and podman.

Nothing here skips: a missing peer is a test failure with the install command in the message
(CI installs them with ``apt-get install -y docker-registry skopeo podman buildah``).

Fixtures:

* ``oci_image`` (session): an :class:`~peers.OciImage` built once; ``oci_image.ref`` is the
  skopeo source ``oci:DIR:1``.
* ``test_ca`` (session): a :class:`~peers.TestCA` (CA, server cert for 127.0.0.1/localhost,
  ``cert_dir`` for ``--cert-dir``).
* ``registry_factory``: ``registry_factory(auth=..., tls=test_ca, ...)`` starts a
  :class:`~peers.Registry` (same keyword arguments) and stops it at teardown.
* ``skopeo`` / ``podman``: factories, ``skopeo(tls_verify=False)`` or
  ``podman(tls_verify=True, cert_dir=test_ca.cert_dir)``; each call gives a new client
  isolated in its own folder.

When a test fails, the teardown prints every client command run (with its output) and the
tail of each registry's log, which pytest shows under "Captured stdout teardown".
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # so `import peers` works in any --import-mode
    sys.path.insert(0, _HERE)

from peers import (  # noqa: E402
    ContainersClient,
    OciImage,
    Podman,
    Registry,
    Skopeo,
    TestCA,
    build_oci_layout,
    make_test_ca,
    require_binaries,
)

_FAILED = pytest.StashKey[bool]()
_E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``e2e`` (select with ``-m e2e``, leave out with
    ``-m "not e2e"``)."""
    for item in items:
        if item.path.is_relative_to(_E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


def _require(*names: str) -> None:
    try:
        require_binaries(*names)
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


def _format_run(result: subprocess.CompletedProcess[str]) -> str:
    args = result.args if isinstance(result.args, list) else [str(result.args)]
    return (
        f"$ {shlex.join(str(a) for a in args)}\n"
        f"  exit {result.returncode}\n"
        f"  stdout: {result.stdout.strip()[-2000:]}\n"
        f"  stderr: {result.stderr.strip()[-2000:]}"
    )


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    """A one-layer OCI image layout, tag ``1``, marker ``hello``; built once per session."""
    layout = build_oci_layout(tmp_path_factory.mktemp("oci-image"), tag="1", marker="hello")
    return OciImage.load(layout, "1")


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A throwaway CA with a server certificate for 127.0.0.1 and localhost."""
    return make_test_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def registry_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Registry]]:
    """Start docker-registry instances (keyword arguments of :class:`Registry`); all are
    stopped at teardown."""
    _require("docker-registry")
    started: list[Registry] = []

    def start(**kwargs: Any) -> Registry:
        registry = Registry(tmp_path / f"registry-{len(started)}", **kwargs)
        started.append(registry)
        return registry.start()

    yield start
    for registry in started:
        registry.stop()
    if request.node.stash.get(_FAILED, False):
        for registry in started:
            print(f"\n===== {registry!r} log tail ({registry.log_path}) =====")
            print("\n".join(registry.log_text().splitlines()[-60:]))


def _client_factory(
    cls: type[ContainersClient], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    _require(cls.binary)
    made: list[ContainersClient] = []

    def make(**kwargs: Any) -> ContainersClient:
        client = cls(tmp_path / f"{cls.binary}-{len(made)}", **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    if request.node.stash.get(_FAILED, False):
        for client in made:
            print(f"\n===== {client!r}: {len(client.history)} command(s) =====")
            for result in client.history:
                print(_format_run(result))


@pytest.fixture
def skopeo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Skopeo]]:
    """``skopeo(tls_verify=..., cert_dir=...)`` -> a new isolated :class:`Skopeo`."""
    yield from _client_factory(Skopeo, tmp_path, request)


@pytest.fixture
def podman(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Podman]]:
    """``podman(tls_verify=..., cert_dir=...)`` -> a new isolated :class:`Podman`."""
    yield from _client_factory(Podman, tmp_path, request)
