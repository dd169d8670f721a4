"""A Distribution registry's filesystem storage with thousands of repositories, written
directly (pushing 5,000 images would take an hour): one small image's blobs, and per
repository the link files the registry itself writes (``_layers``, ``_manifests/revisions``,
``_manifests/tags/TAG/current`` and ``index``). The real ``docker-registry`` then serves the
catalog, tag lists and manifests from it as if each image had been pushed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

__all__ = ["write_storage"]

_V2 = ("docker", "registry", "v2")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_blob(root: Path, data: bytes) -> str:
    digest = _digest(data)
    hexed = digest.split(":", 1)[1]
    path = root.joinpath(*_V2, "blobs", "sha256", hexed[:2], hexed, "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _link(path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest)


def _layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        content = b"hello from the console benchmark\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def write_storage(root: Path, repositories: list[str], tags: tuple[str, ...] = ("1",)) -> str:
    """Write the storage under ``root``; every repository gets ``tags``; the manifest digest."""
    layer = _layer()
    layer_digest = _put_blob(root, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-12-01T12:00:00Z",
            "rootfs": {
                "type": "layers",
                "diff_ids": [_digest(gzip.decompress(layer))],
            },
            "config": {},
        }
    ).encode()
    config_digest = _put_blob(root, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    manifest_digest = _put_blob(root, manifest)
    for name in repositories:
        repo = root.joinpath(*_V2, "repositories", *name.split("/"))
        for digest in (layer_digest, config_digest):
            _link(repo / "_layers" / "sha256" / digest.split(":")[1] / "link", digest)
        hexed = manifest_digest.split(":")[1]
        _link(repo / "_manifests" / "revisions" / "sha256" / hexed / "link", manifest_digest)
        for tag in tags:
            tag_dir = repo / "_manifests" / "tags" / tag
            _link(tag_dir / "current" / "link", manifest_digest)
            _link(tag_dir / "index" / "sha256" / hexed / "link", manifest_digest)
    return manifest_digest
