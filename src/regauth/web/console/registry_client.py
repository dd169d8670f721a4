"""Reading the registry's HTTP API for the console, with short tokens regauth signs for itself.

regauth is the registry's token issuer, so it needs no password to read it: every request
carries a 60-second token for the subject ``regauth-console`` with exactly the access that
request needs (``registry:catalog:*`` for the catalog, ``repository:NAME:pull`` to read a
repository, ``repository:NAME:delete`` to delete a manifest), signed with the key the token
endpoint signs with at that moment (a rotation applies at once).

Only what the console shows is read: the catalog (paged with ``?n=&last=`` and the ``Link``
header), a repository's tags (paged the same way), manifests and image indexes, and config
blobs (for ``created``). A registry that is down, slow or refuses the token raises
:class:`RegistryUnavailable`, which the pages turn into a 502/503 page, never a 500.

Every operation opens its own :class:`httpx.AsyncClient` (connections are reused within one
page's requests and never outlive them, so nothing is bound to an event loop).
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson

from regauth.protocol.claims import AccessEntry, ClaimsTemplate
from regauth.protocol.jws import JwsSigner
from regauth.service import new_jwt_id

__all__ = [
    "CONSOLE_SUBJECT",
    "MANIFEST_TYPES",
    "Fetched",
    "RegistryClient",
    "RegistryNotFound",
    "RegistryRefused",
    "RegistryUnavailable",
    "valid_digest",
    "valid_repository_name",
]

#: the ``sub`` of the tokens the console signs for itself (the registry logs it)
CONSOLE_SUBJECT = "regauth-console"
TOKEN_SECONDS = 60
#: entries asked for per catalog or tag-list page (registry 2.8 allows up to 1000)
PAGE_ENTRIES = 500
#: a catalog or tag list longer than this is cut (and the page says so)
MAX_ENTRIES = 50_000
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
#: JSON documents the console reads (manifests, indexes, config blobs) are at most this big
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
# digests and Link headers are checked without regular expressions: both are simple, and a
# search over a long header must stay linear
_ALGORITHM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.+_-")
_ENCODED_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=_-")


def valid_repository_name(name: str) -> bool:
    """A repository name of the distribution grammar (no host part), at most 255 characters."""
    return len(name) <= 255 and _NAME.fullmatch(name) is not None


def valid_digest(reference: str) -> bool:
    """``algorithm:encoded`` of the OCI digest grammar (``sha256:`` and 64 hex digits)."""
    if len(reference) > 255:
        return False
    algorithm, colon, encoded = reference.partition(":")
    return (
        bool(colon)
        and bool(algorithm)
        and algorithm[0] not in ".+_-"
        and algorithm[-1] not in ".+_-"
        and set(algorithm) <= _ALGORITHM_CHARS
        and len(encoded) >= 32
        and set(encoded) <= _ENCODED_CHARS
    )


class RegistryUnavailable(Exception):
    """The registry is not configured, does not answer, or refuses regauth's own token."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RegistryNotFound(Exception):
    """The registry has no such repository, manifest or blob."""


class RegistryRefused(Exception):
    """The registry refused an operation for a reason of its own (405: deletes disabled)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True)
class Fetched:
    """A manifest or index as the registry sent it."""

    digest: str
    media_type: str
    size: int
    document: Mapping[str, Any]


class RegistryClient:
    """The registry at ``url``, read with tokens signed by ``signer()`` (called per token)."""

    def __init__(
        self,
        url: str | None,
        *,
        issuer: str,
        service: str,
        signer: Callable[[], JwsSigner],
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        page_entries: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._issuer = issuer
        self._service = service
        self._signer = signer
        self._verify = verify
        self._transport = transport
        self.page_entries = page_entries or PAGE_ENTRIES
        self._clock = clock

    # ------------------------------------------------------------------ tokens

    def token(self, *access: AccessEntry) -> str:
        """A token for exactly ``access``, valid for 60 seconds."""
        claims = ClaimsTemplate(
            issuer=self._issuer,
            subject=CONSOLE_SUBJECT,
            audience=self._service,
            access=list(access),
            expires_in=TOKEN_SECONDS,
        )
        return self._signer().sign_payload(claims.render(int(self._clock()), new_jwt_id()))

    # ------------------------------------------------------------------ the HTTP session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[httpx.AsyncClient]:
        """One HTTP client for the requests of one page (connections closed afterwards)."""
        if self.url is None:
            raise RegistryUnavailable(
                "regauth does not know the registry's address: set registry.url.", status=503
            )
        async with httpx.AsyncClient(
            base_url=self.url,
            verify=self._verify,
            timeout=TIMEOUT,
            transport=self._transport,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
            follow_redirects=False,
            trust_env=False,
        ) as client:
            yield client

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None = None,
        accept: str | None = None,
        follow: bool = False,
    ) -> _Answer:
        headers = {"authorization": f"Bearer {token}"}
        if accept is not None:
            headers["accept"] = accept
        body = bytearray()
        try:
            request = client.build_request(method, path, params=params, headers=headers)
            # a redirect to other storage loses the Authorization header (httpx drops it
            # on a cross-origin redirect)
            response = await client.send(request, stream=True, follow_redirects=follow)
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise RegistryUnavailable("The registry sent a document too large.")
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise RegistryUnavailable("The registry did not answer in time.") from None
        except httpx.HTTPError as error:
            raise RegistryUnavailable(
                f"The registry cannot be reached ({type(error).__name__})."
            ) from None
        return _checked(_Answer(response.status_code, response.headers, bytes(body)))

    # ------------------------------------------------------------------ reading

    async def catalog(self, client: httpx.AsyncClient) -> tuple[list[str], bool]:
        """Every repository name (sorted by the registry), and whether the list was cut."""
        token = self.token(AccessEntry("registry", "catalog", ("*",)))
        return await self._paged(client, "/v2/_catalog", "repositories", token)

    async def tags(self, client: httpx.AsyncClient, name: str) -> tuple[list[str], bool]:
        token = self.token(_pull(name))
        try:
            return await self._paged(client, f"/v2/{name}/tags/list", "tags", token)
        except RegistryRefused as refused:
            if refused.code == "NAME_UNKNOWN":
                raise RegistryNotFound(name) from None
            raise

    async def _paged(
        self, client: httpx.AsyncClient, path: str, key: str, token: str
    ) -> tuple[list[str], bool]:
        found: list[str] = []
        params = {"n": str(self.page_entries)}
        while True:
            response = await self._request(client, "GET", path, token, params=params)
            page = _json(response).get(key) or []
            if not isinstance(page, list):
                raise RegistryUnavailable("The registry sent a list regauth cannot read.")
            found += [entry for entry in page if isinstance(entry, str)]
            if len(found) >= MAX_ENTRIES:
                return found[:MAX_ENTRIES], True
            last = _next_last(response.headers.get("link", ""))
            if last is None or not page or last == params.get("last"):
                return found, False
            params = {"n": str(self.page_entries), "last": last}

    async def manifest(self, client: httpx.AsyncClient, name: str, reference: str) -> Fetched:
        """The manifest or image index of a tag or digest."""
        response = await self._request(
            client,
            "GET",
            f"/v2/{name}/manifests/{quote(reference, safe=':')}",
            self.token(_pull(name)),
            accept=", ".join(MANIFEST_TYPES),
        )
        document = _json(response)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        digest = response.headers.get("docker-content-digest", "")
        if not valid_digest(digest):
            raise RegistryUnavailable("The registry sent a manifest without a digest.")
        return Fetched(
            digest, document.get("mediaType") or media_type, len(response.body), document
        )

    async def blob_json(self, client: httpx.AsyncClient, name: str, digest: str) -> dict[str, Any]:
        """A small JSON blob (an image's config); a redirect to the storage is followed."""
        path = f"/v2/{name}/blobs/{digest}"
        token = self.token(_pull(name))
        try:
            response = await self._request(client, "GET", path, token, follow=True)
        except RegistryRefused as refused:
            if refused.code in ("BLOB_UNKNOWN", "NAME_UNKNOWN"):
                raise RegistryNotFound(digest) from None
            raise
        return _json(response)

    # ------------------------------------------------------------------ deleting

    async def delete_manifest(self, client: httpx.AsyncClient, name: str, digest: str) -> None:
        """Delete a manifest by digest (every tag on it goes with it)."""
        token = self.token(AccessEntry("repository", name, ("delete",)))
        try:
            await self._request(client, "DELETE", f"/v2/{name}/manifests/{digest}", token)
        except RegistryRefused as refused:
            if refused.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
                raise RegistryNotFound(digest) from None
            raise


def _pull(name: str) -> AccessEntry:
    return AccessEntry("repository", name, ("pull",))


def _checked(response: _Answer) -> _Answer:
    status = response.status
    if 200 <= status < 300:
        return response
    if status == 401:
        raise RegistryUnavailable(
            "The registry refused regauth's own token: check that it trusts regauth's keys "
            "(rootcertbundle), issuer and service (see `regauth registry-config`)."
        )
    if status >= 500 or status in (429, 403) or status < 400:
        raise RegistryUnavailable(f"The registry answered {status}.")
    code = ""
    try:
        errors = orjson.loads(response.body).get("errors") or []
        code = str(errors[0].get("code", ""))[:64] if errors else ""
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        pass
    if status == 404 and not code:
        code = "NOT_FOUND"
    raise RegistryRefused(status, code or "UNSUPPORTED")


def _json(response: _Answer) -> dict[str, Any]:
    try:
        document = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise RegistryUnavailable("The registry sent something that is not JSON.") from None
    if not isinstance(document, dict):
        raise RegistryUnavailable("The registry sent JSON regauth cannot read.")
    return document


def _next_last(link: str) -> str | None:
    """``last`` of the ``Link: </v2/_catalog?last=x&n=100>; rel="next"`` header, if any."""
    for entry in link[:8192].split(","):
        target, _, parameters = entry.partition(";")
        target = target.strip()
        relations = [
            p.strip().removeprefix("rel=").strip('"') for p in parameters.split(";") if p.strip()
        ]
        if "next" in relations and target.startswith("<") and target.endswith(">"):
            values = parse_qs(urlsplit(target[1:-1]).query).get("last")
            return values[0] if values else None
    return None
