"""The repository pages against the real docker-registry, with images pushed by skopeo.

regauth runs in this process: its token endpoint is served by uvicorn on a loopback port (the
registry's realm), so skopeo pushes as alice and bob with their passwords, and the console is
driven in-process. Skopeo runs in a thread so the event loop keeps answering its token requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from regauth.authz.grants import load_snapshot
from regauth.keys.publish import write_trust_files
from regauth.runtime import Runtime
from regauth.web.app import create_app
from regauth.web.console import registry_client
from regauth.web.console.rendering import human_size
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.console.support import PASSWORDS, Browser, signed_in
from tests.e2e.peers import OciImage, Registry, Skopeo, build_oci_layout, free_port

BrowserFor = Callable[..., Browser]
PUBLIC_HOST = "registry.example.test"


@dataclass
class Stack:
    runtime: Runtime
    registry: Registry
    image: OciImage
    workdir: Path

    def refresh_grants(self) -> None:
        self.runtime.grants.replace(load_snapshot(self.runtime.database))

    async def push(self, username: str, repository: str, tag: str = "1") -> None:
        client = Skopeo(self.workdir / f"skopeo-{username}-{free_port()}", tls_verify=False)
        try:
            creds = f"{username}:{PASSWORDS[username]}"
            done = await asyncio.to_thread(
                client.copy,
                self.image.ref,
                self.registry.docker_ref(repository, tag),
                "--dest-creds",
                creds,
            )
            assert done.returncode == 0, done.stderr
        finally:
            client.close()


async def _serve(runtime: Runtime, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task


def _config(port: int, **registry: Any) -> dict[str, Any]:
    return {
        "server": {"public_url": f"http://127.0.0.1:{port}"},
        "users": {"carol": {"password": bcrypt_hash("carol-password-1")}},
        "registry": {"public_url": f"https://{PUBLIC_HOST}", **registry},
    }


async def _start(
    make_runtime: RuntimeFactory,
    tmp_path: Path,
    *,
    registry_config: dict[str, Any] | None = None,
    **registry: Any,
) -> AsyncIterator[Stack]:
    port = free_port()
    # a first runtime makes the signing key (in the data folder's database) for the registry
    first = make_runtime(_config(port))
    bundle, _ = write_trust_files([first.signing_key], tmp_path / "trust")
    auth = {
        "token": {
            "realm": f"http://127.0.0.1:{port}/auth",
            "service": first.config.token.service[0],
            "issuer": first.config.token.issuer,
            "rootcertbundle": str(bundle),
        }
    }
    with Registry(tmp_path / "registry", auth=auth, extra_config=registry_config) as reg:
        runtime = make_runtime(_config(port, url=reg.url, **registry))
        for name in ("alice", "bob"):
            runtime.accounts.create_user(name, password=PASSWORDS[name])
        runtime.accounts.create_user("root", password=PASSWORDS["root"], is_admin=True)
        image = OciImage.load(build_oci_layout(tmp_path / "image", "1", "console"), "1")
        server, task = await _serve(runtime, port)
        try:
            yield Stack(runtime, reg, image, tmp_path)
        finally:
            server.should_exit = True
            await task


@pytest.fixture
async def stack(make_runtime: RuntimeFactory, tmp_path: Path) -> AsyncIterator[Stack]:
    async for built in _start(make_runtime, tmp_path, cache_seconds=0):
        yield built


@pytest.fixture
def runtime(stack: Stack) -> Runtime:
    """The console's runtime is the stack's (browser_for uses it)."""
    return stack.runtime


def listed(html: str) -> list[str]:
    return re.findall(r'<td data-label="Repository"><a href="/repositories/([^"]+)">', html)


async def test_each_person_sees_only_what_they_may_pull(
    stack: Stack, browser_for: BrowserFor
) -> None:
    stack.runtime.accounts.add_grant(pattern="public/*", role="push", user="root")
    stack.runtime.accounts.add_grant(pattern="public/*", role="pull", public=True)
    stack.refresh_grants()
    await stack.push("alice", "alice/app")
    await stack.push("bob", "bob/app")
    await stack.push("root", "public/base")

    alice = await signed_in(browser_for(), "alice")
    page = await alice.get("/repositories")
    assert page.status_code == 200, page.text
    assert listed(page.text) == ["alice/app", "public/base"]
    assert "bob/app" not in page.text

    bob = await signed_in(browser_for(), "bob")
    assert listed((await bob.get("/repositories")).text) == ["bob/app", "public/base"]
    # a repository one may not pull is "not found", exactly like one that does not exist
    hidden = await bob.get("/repositories/alice/app", headers={"accept": "text/html"})
    missing = await bob.get("/repositories/bob/nothing", headers={"accept": "text/html"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("alice/app", "X") == missing.text.replace("bob/nothing", "X")

    # an administrator too sees what the grants let them pull, not the whole catalog
    root = await signed_in(browser_for(), "root")
    assert listed((await root.get("/repositories")).text) == ["public/base"]

    anonymous = browser_for()
    page = await anonymous.get("/repositories")
    assert page.status_code == 200
    assert listed(page.text) == ["public/base"]
    assert "/login?next=/repositories" in page.text
    assert (await anonymous.get("/repositories/public/base")).status_code == 200
    assert (await anonymous.get("/repositories/alice/app")).status_code == 404

    # the filter and paging keep to the same rule
    found = await alice.get("/repositories", params={"q": "APP"})
    assert listed(found.text) == ["alice/app"]
    nothing = await alice.get("/repositories", params={"q": "bob"})
    assert listed(nothing.text) == [] and "No repository you may pull" in nothing.text


async def test_tags_show_digest_size_platform_time_and_pull_command(
    stack: Stack, browser_for: BrowserFor
) -> None:
    await stack.push("alice", "alice/app", "1")
    await stack.push("alice", "alice/app", "latest")
    alice = await signed_in(browser_for(), "alice")
    page = await alice.get("/repositories/alice/app")
    assert page.status_code == 200, page.text
    text = page.text
    assert text.count(stack.image.manifest_digest) >= 2  # both tags, same manifest
    layout = stack.image.layout / "blobs" / "sha256"
    size = sum(
        (layout / d.removeprefix("sha256:")).stat().st_size
        for d in (stack.image.config_digest, *stack.image.layer_digests)
    )
    assert f'<td data-label="Size">{human_size(size)}</td>' in text
    assert '<span class="badge">linux/amd64</span>' in text
    assert 'datetime="1970-01-01T00:00:00+00:00"' in text
    assert f"docker pull {PUBLIC_HOST}/alice/app:1" in text
    assert f"docker pull {PUBLIC_HOST}/alice/app:latest" in text
    assert ">Delete</button>" in text  # alice owns alice/*
    sorted_desc = await alice.get(
        "/repositories/alice/app", params={"sort": "tag", "order": "desc"}
    )
    assert sorted_desc.text.index("alice/app:latest") < sorted_desc.text.index("alice/app:1")


async def test_delete_needs_the_delete_grant_and_reaches_the_registry(
    stack: Stack, browser_for: BrowserFor
) -> None:
    await stack.push("alice", "alice/app", "1")
    digest = stack.image.manifest_digest
    stack.runtime.accounts.add_grant(pattern="alice/app", role="pull", user="bob")
    stack.refresh_grants()

    bob = await signed_in(browser_for(), "bob")
    page = await bob.get("/repositories/alice/app")
    assert page.status_code == 200 and digest in page.text
    assert ">Delete</button>" not in page.text
    refused = await bob.post("/repositories/alice/app/-/delete", {"reference": digest})
    assert refused.status_code == 403
    # not a reader at all: as if it did not exist
    carol = await signed_in(browser_for(), "carol")
    hidden = await carol.post("/repositories/alice/app/-/delete", {"reference": digest})
    assert hidden.status_code == 404

    alice = await signed_in(browser_for(), "alice")
    await alice.get("/repositories/alice/app")
    forged = await alice.post("/repositories/alice/app/-/delete", {"reference": digest}, csrf="x")
    assert forged.status_code == 403
    bad = await alice.post("/repositories/alice/app/-/delete", {"reference": "latest"})
    assert bad.status_code == 400
    done = await alice.post("/repositories/alice/app/-/delete", {"reference": digest})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/repositories/alice/app?done=manifest-deleted"
    after = await alice.get(done.headers["location"])
    assert "The manifest is deleted" in after.text
    assert digest not in after.text
    again = await alice.post("/repositories/alice/app/-/delete", {"reference": digest})
    assert again.status_code == 404


async def test_catalog_pages_are_followed(
    stack: Stack, browser_for: BrowserFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_client, "PAGE_ENTRIES", 1)  # one name per catalog page
    for name in ("alice/a", "alice/b", "alice/c"):
        await stack.push("alice", name)
    alice = await signed_in(browser_for(), "alice")
    assert listed((await alice.get("/repositories")).text) == ["alice/a", "alice/b", "alice/c"]


async def test_a_registry_that_is_down_is_a_502_page(stack: Stack, browser_for: BrowserFor) -> None:
    await stack.push("alice", "alice/app")
    alice = await signed_in(browser_for(), "alice")
    stack.registry.stop()
    page = await alice.get("/repositories")
    assert page.status_code == 502
    assert "The registry cannot be reached" in page.text
    tags = await alice.get("/repositories/alice/app")
    assert tags.status_code == 502 and "Registry unavailable" in tags.text


async def test_without_registry_url_the_page_says_so(
    make_runtime: RuntimeFactory, client_for: Callable[..., Any]
) -> None:
    runtime = make_runtime({"registry": {"public_url": "https://r.example.test"}})
    runtime.accounts.create_user("alice", password=PASSWORDS["alice"])
    client = client_for(runtime)
    client.follow_redirects = False
    alice = await signed_in(Browser(client), "alice")
    page = await alice.get("/repositories")
    assert page.status_code == 503
    assert "registry.url" in page.text


@pytest.fixture
async def no_delete_stack(make_runtime: RuntimeFactory, tmp_path: Path) -> AsyncIterator[Stack]:
    off = {"storage": {"delete": {"enabled": False}}}
    async for built in _start(make_runtime, tmp_path, registry_config=off):
        yield built


async def test_a_registry_without_deletes_is_explained(
    no_delete_stack: Stack, make_runtime: RuntimeFactory, client_for: Callable[..., Any]
) -> None:
    stack = no_delete_stack
    await stack.push("alice", "alice/app")
    client = client_for(stack.runtime)
    client.follow_redirects = False
    alice = await signed_in(Browser(client), "alice")
    await alice.get("/repositories/alice/app")
    answer = await alice.post(
        "/repositories/alice/app/-/delete", {"reference": stack.image.manifest_digest}
    )
    assert answer.status_code == 405
    assert "storage.delete.enabled: true" in answer.text


def _index_layout(directory: Path) -> tuple[Path, str, int]:
    """An OCI layout whose tag ``multi`` is an image index of two images (amd64, arm64/v8):
    the index's digest and the two images' config and layers' total size."""
    for marker in ("amd", "arm"):
        build_oci_layout(directory, marker, marker)
    blobs = directory / "blobs" / "sha256"
    platforms = {
        "amd": {"os": "linux", "architecture": "amd64"},
        "arm": {"os": "linux", "architecture": "arm64", "variant": "v8"},
    }
    entries, total = [], 0
    for marker, platform in platforms.items():
        image = OciImage.load(directory, marker)
        manifest = blobs / image.manifest_digest.removeprefix("sha256:")
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.manifest_digest,
                "size": manifest.stat().st_size,
                "platform": platform,
            }
        )
        for digest in (image.config_digest, *image.layer_digests):
            total += (blobs / digest.removeprefix("sha256:")).stat().st_size
    index_type = "application/vnd.oci.image.index.v1+json"
    body = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
    digest = hashlib.sha256(body.encode()).hexdigest()
    (blobs / digest).write_text(body)
    layout_index = json.loads((directory / "index.json").read_text())
    layout_index["manifests"].append(
        {
            "mediaType": index_type,
            "digest": f"sha256:{digest}",
            "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }
    )
    (directory / "index.json").write_text(json.dumps(layout_index))
    return directory, f"sha256:{digest}", total


async def test_an_image_index_shows_each_platform(stack: Stack, browser_for: BrowserFor) -> None:
    layout, digest, total = _index_layout(stack.workdir / "multi")
    client = Skopeo(stack.workdir / "skopeo-multi", tls_verify=False)
    try:
        creds = f"alice:{PASSWORDS['alice']}"
        target = stack.registry.docker_ref("alice/multi", "2")
        pushed = await asyncio.to_thread(
            client.copy, f"oci:{layout}:multi", target, "--all", "--dest-creds", creds
        )
        assert pushed.returncode == 0, pushed.stderr
    finally:
        client.close()
    alice = await signed_in(browser_for(), "alice")
    page = await alice.get("/repositories/alice/multi")
    assert page.status_code == 200, page.text
    assert digest in page.text
    assert '<span class="badge">linux/amd64</span>' in page.text
    assert '<span class="badge">linux/arm64/v8</span>' in page.text
    assert f'<td data-label="Size">{human_size(total)}</td>' in page.text


async def test_what_people_type_is_escaped(stack: Stack, browser_for: BrowserFor) -> None:
    alice = await signed_in(browser_for(), "alice")
    page = await alice.get("/repositories", params={"q": '<script>alert("x")</script>'})
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert" in page.text
    odd = await alice.get("/repositories/Alice/<b>", headers={"accept": "text/html"})
    assert odd.status_code == 404 and "<b>" not in odd.text


@pytest.fixture
async def cached_stack(make_runtime: RuntimeFactory, tmp_path: Path) -> AsyncIterator[Stack]:
    async for built in _start(make_runtime, tmp_path, cache_seconds=600):
        yield built


async def test_what_was_read_is_kept_briefly(
    cached_stack: Stack, client_for: Callable[..., Any]
) -> None:
    stack = cached_stack
    await stack.push("alice", "alice/one")
    client = client_for(stack.runtime)
    client.follow_redirects = False
    alice = await signed_in(Browser(client), "alice")
    assert listed((await alice.get("/repositories")).text) == ["alice/one"]
    await stack.push("alice", "alice/two")
    # within registry.cache_seconds the catalog read before is shown
    assert listed((await alice.get("/repositories")).text) == ["alice/one"]
    await alice.get("/repositories/alice/one")
    deleted = await alice.post(
        "/repositories/alice/one/-/delete", {"reference": stack.image.manifest_digest}
    )
    assert deleted.status_code == 303
    # a delete forgets what was kept: the catalog and the repository are read again
    assert listed((await alice.get("/repositories")).text) == ["alice/one", "alice/two"]
    assert "This repository has no tags." in (await alice.get("/repositories/alice/one")).text
