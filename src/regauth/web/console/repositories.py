"""What the console shows of the registry's repositories, and who may see each one.

:meth:`Repositories.names` is the one place the list of repositories comes from (today the
registry's catalog; later the index built from registry events); everything else filters or
details it. A name is shown to a person only when the token endpoint's own authorizers would
grant them ``pull`` on it (``repository:NAME:pull``, with their identity and address), so the
console never reveals more than ``docker pull`` would.

What was read is kept ``registry.cache_seconds`` (the catalog, each repository's tags);
manifests and configs named by digest never change and are kept in a bounded map.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from regauth.authn.base import Identity
from regauth.authz.base import AccessContext, IpAddress
from regauth.authz.chain import AuthorizerChain
from regauth.protocol.scope import Scope
from regauth.web.console.registry_client import (
    Fetched,
    RegistryClient,
    RegistryNotFound,
    RegistryRefused,
    valid_digest,
)

__all__ = ["Catalog", "Repositories", "TagRow", "parse_created"]

K = TypeVar("K")
V = TypeVar("V")

#: manifests of an image index read for its size and creation time
MAX_INDEX_CHILDREN = 16
#: registry requests in flight at once for one page
CONCURRENCY = 8
_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
_FRACTION = re.compile(r"\.(\d+)")


@dataclass(frozen=True)
class Catalog:
    names: Sequence[str]
    #: the registry's list was longer than regauth reads
    cut: bool = False


@dataclass(frozen=True)
class TagRow:
    tag: str
    digest: str | None = None
    #: compressed size of what a pull downloads: config and layers (of every platform)
    size: int | None = None
    platforms: tuple[str, ...] = ()
    created: datetime.datetime | None = None
    #: why the details are missing (the tag went away meanwhile, an unknown manifest type)
    problem: str | None = None


@dataclass(frozen=True)
class _Image:
    """What a manifest (one platform) adds up to."""

    size: int | None
    platform: str | None
    created: datetime.datetime | None


class _Expiring(Generic[K, V]):
    """A bounded map whose entries last ``seconds`` (0: nothing is kept)."""

    def __init__(self, seconds: float, limit: int, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._limit = limit
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: K, value: V) -> None:
        if self._seconds <= 0:
            return
        self._entries[key] = (self._clock() + self._seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)


def parse_created(value: Any) -> datetime.datetime | None:
    """An image config's ``created`` (RFC 3339, possibly with nanoseconds) in UTC."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def _platform(values: Any) -> str | None:
    if not isinstance(values, dict):
        return None
    os_name, arch = values.get("os"), values.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or os_name == "unknown":
        return None
    variant = values.get("variant")
    text = f"{os_name}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant else "")
    return text[:64]


def _size_of(descriptor: Any) -> int | None:
    if isinstance(descriptor, dict) and isinstance(descriptor.get("size"), int):
        size: int = descriptor["size"]
        return size
    return None


class Repositories:
    def __init__(
        self,
        client: RegistryClient,
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._catalog: _Expiring[str, Catalog] = _Expiring(cache_seconds, 1, clock)
        self._catalog_lock = asyncio.Lock()
        self._visible: _Expiring[tuple[str, str, int], tuple[Catalog, Sequence[str]]] = _Expiring(
            cache_seconds, 1024, clock
        )
        self._tags: _Expiring[str, list[TagRow]] = _Expiring(cache_seconds, 256, clock)
        # content named by digest never changes: kept as long as there is room
        self._images: _Expiring[str, _Image] = _Expiring(86400.0, 4096, clock)

    # ------------------------------------------------------------------ names

    async def names(self) -> Catalog:
        """Every repository regauth knows of: the one source of names for the console."""
        cached = self._catalog.get("")
        if cached is not None:
            return cached
        async with self._catalog_lock:  # one read at a time; the others wait for its answer
            cached = self._catalog.get("")
            if cached is not None:
                return cached
            async with self.client.session() as http:
                names, cut = await self.client.catalog(http)
            catalog = Catalog(tuple(names), cut)
            self._catalog.put("", catalog)
            return catalog

    # ------------------------------------------------------------------ who may see what

    @staticmethod
    async def allowed(
        authorizers: AuthorizerChain,
        identity: Identity,
        service: str,
        address: IpAddress | None,
        name: str,
        action: str,
    ) -> bool:
        """Would the token endpoint grant ``action`` on repository ``name`` to this person?"""
        context = AccessContext(identity=identity, service=service, client_ip=address)
        decision = await authorizers.decide(context, Scope("repository", name, (action,)))
        return action in decision.granted

    async def visible(
        self,
        authorizers: AuthorizerChain,
        identity: Identity,
        service: str,
        address: IpAddress | None,
        catalog: Catalog,
        *,
        viewer_key: str,
    ) -> Sequence[str]:
        """The names of the catalog this person may pull, in its order; kept for a person
        (``viewer_key`` and address) while the catalog and the authorizers stay the same, so
        paging and sorting do not ask the authorizers about every name again."""
        key = (viewer_key, str(address), authorizers.generation)
        kept = self._visible.get(key)
        if kept is not None and kept[0] is catalog:
            return kept[1]
        context = AccessContext(identity=identity, service=service, client_ip=address)
        shown = []
        for name in catalog.names:
            decision = await authorizers.decide(context, Scope("repository", name, ("pull",)))
            if "pull" in decision.granted:
                shown.append(name)
        self._visible.put(key, (catalog, tuple(shown)))
        return shown

    # ------------------------------------------------------------------ tags

    async def tags(self, name: str) -> list[TagRow]:
        """Every tag of a repository with its details (RegistryNotFound: no such repository)."""
        cached = self._tags.get(name)
        if cached is not None:
            return cached
        async with self.client.session() as http:
            tags, _cut = await self.client.tags(http, name)
            limit = asyncio.Semaphore(CONCURRENCY)
            rows = list(await asyncio.gather(*(self._row(http, limit, name, t) for t in tags)))
        self._tags.put(name, rows)
        return rows

    def forget(self, name: str) -> None:
        """After a change (a delete): read the repository and the catalog again."""
        self._tags.drop(name)
        self._catalog.drop("")

    async def delete(self, name: str, digest: str) -> None:
        try:
            async with self.client.session() as http:
                await self.client.delete_manifest(http, name, digest)
        finally:
            self.forget(name)

    async def _row(
        self, http: httpx.AsyncClient, limit: asyncio.Semaphore, name: str, tag: str
    ) -> TagRow:
        try:
            async with limit:
                fetched = await self.client.manifest(http, name, tag)
            if fetched.media_type in _INDEX_TYPES:
                return await self._index_row(http, limit, name, tag, fetched)
            image = await self._image(http, limit, name, fetched)
        except RegistryNotFound:
            return TagRow(tag, problem="gone from the registry")
        except RegistryRefused as refused:
            return TagRow(tag, problem=f"the registry refused it ({refused.code})")
        platforms = (image.platform,) if image.platform else ()
        return TagRow(tag, fetched.digest, image.size, platforms, image.created)

    async def _index_row(
        self,
        http: httpx.AsyncClient,
        limit: asyncio.Semaphore,
        name: str,
        tag: str,
        index: Fetched,
    ) -> TagRow:
        entries = index.document.get("manifests")
        children = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        platforms: list[str] = []
        images = []
        for child in children:
            platform = _platform(child.get("platform"))
            if platform is None:  # attestations and other non-images
                continue
            platforms.append(platform)
            digest = child.get("digest")
            if isinstance(digest, str) and valid_digest(digest):
                images.append(digest)
        sizes: list[int] = []
        created: list[datetime.datetime] = []
        for image in await asyncio.gather(
            *(self._image_by_digest(http, limit, name, d) for d in images[:MAX_INDEX_CHILDREN])
        ):
            if image.size is not None:
                sizes.append(image.size)
            if image.created is not None:
                created.append(image.created)
        size = sum(sizes) if sizes and len(images) <= MAX_INDEX_CHILDREN else None
        return TagRow(tag, index.digest, size, tuple(platforms), max(created) if created else None)

    async def _image_by_digest(
        self, http: httpx.AsyncClient, limit: asyncio.Semaphore, name: str, digest: str
    ) -> _Image:
        cached = self._images.get(digest)
        if cached is not None:
            return cached
        try:
            async with limit:
                fetched = await self.client.manifest(http, name, digest)
            return await self._image(http, limit, name, fetched)
        except (RegistryNotFound, RegistryRefused):
            return _Image(None, None, None)

    async def _image(
        self, http: httpx.AsyncClient, limit: asyncio.Semaphore, name: str, fetched: Fetched
    ) -> _Image:
        cached = self._images.get(fetched.digest)
        if cached is not None:
            return cached
        document = fetched.document
        config = document.get("config")
        layers = document.get("layers")
        sizes = [_size_of(config)]
        if isinstance(layers, list):
            sizes += [_size_of(layer) for layer in layers]
        size = sum(s for s in sizes if s is not None) if None not in sizes else None
        platform = created = None
        digest = config.get("digest") if isinstance(config, dict) else None
        if isinstance(digest, str) and valid_digest(digest):
            try:
                async with limit:
                    blob = await self.client.blob_json(http, name, digest)
            except (RegistryNotFound, RegistryRefused):
                blob = {}
            platform = _platform(blob)
            created = parse_created(blob.get("created"))
        image = _Image(size, platform, created)
        self._images.put(fetched.digest, image)
        return image
