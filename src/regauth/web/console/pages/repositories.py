"""Repositories: ``GET /repositories``, ``GET /repositories/{name}``, and deleting a manifest.

A person sees exactly the repositories the token endpoint would let them pull (the same
authorizers, with their identity and address); a visitor who is not signed in sees the ones
anonymous pulls may read (public grants while ``grants.anonymous_pull`` is on, ACL rules for
the anonymous account), with a link to sign in. A repository one may not pull is a 404, like
one that does not exist: the page never tells them apart.

Deleting (``POST /repositories/{name}/-/delete``, field ``reference``: a manifest digest) needs
``delete`` on the repository; the registry must allow it (``storage.delete.enabled: true``),
and the page says so when it does not.

With registry events (:mod:`regauth.web.console.activity`), the list adds each repository's last
push and last pull from the repository index (sortable), and a repository's page its counters,
who pushed last and its latest events: names to signed-in people, addresses and clients to
administrators. Without events the pages are as before.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.authn.base import ANONYMOUS, Identity
from regauth.authz.base import IpAddress
from regauth.web.console.activity import index_of, repository_activity, sort_by
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.registry_client import (
    RegistryClient,
    RegistryNotFound,
    RegistryRefused,
    RegistryUnavailable,
    valid_digest,
    valid_repository_name,
)
from regauth.web.console.repositories import Repositories, TagRow
from regauth.web.console.tables import table

__all__ = ["routes"]

log = structlog.get_logger("regauth.console")

MAX_QUERY = 200
NOT_FOUND = "There is no such repository, or you may not pull it."
UNAVAILABLE = "Registry unavailable"
DELETES_OFF = (
    "The registry does not allow deleting (it answered 405). Its config.yml needs "
    "storage.delete.enabled: true, then a restart of the registry."
)


def make_repositories(console: Console) -> Repositories:
    """The registry reader of this console, from ``registry:`` and ``token:``."""
    registry = console.config.registry
    verify: ssl.SSLContext | bool = True
    if registry.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(registry.ca_file))
    runtime = console.runtime
    client = RegistryClient(
        registry.url,
        issuer=console.config.token.issuer,
        service=console.config.token.service[0],
        signer=lambda: runtime.service.signer,  # the key signing now (rotations apply)
        verify=verify,
    )
    return Repositories(client, cache_seconds=registry.cache_seconds)


def routes(console: Console, repositories: Repositories | None = None) -> list[BaseRoute]:
    repos = repositories if repositories is not None else make_repositories(console)
    service = console.config.token.service[0]
    host = console.registry_host()

    def who(request: Request, viewer: Viewer | None) -> tuple[Identity, IpAddress | None]:
        peer = request.client.host if request.client else None
        address = console.addresses.resolve(peer, request.headers)
        return (viewer.identity if viewer is not None else ANONYMOUS), address

    async def may(request: Request, viewer: Viewer | None, name: str, action: str) -> bool:
        identity, address = who(request, viewer)
        return await repos.allowed(
            console.runtime.service.authorizers, identity, service, address, name, action
        )

    async def listing(request: Request) -> Response:
        viewer = await console.viewer(request)
        query = request.query_params.get("q", "").strip()[:MAX_QUERY]
        try:
            catalog = await repos.names()
        except RegistryUnavailable as down:
            log.warning("console registry unavailable", reason=down.message)
            return console.render(
                request,
                "repositories.html",
                viewer=viewer,
                status=down.status,
                active="repositories",
                q=query,
                unavailable=down.message,
                rows=None,
                cut=False,
                index={},
            )
        identity, address = who(request, viewer)
        readable = await repos.visible(
            console.runtime.service.authorizers,
            identity,
            service,
            address,
            catalog,
            viewer_key=str(viewer.session.id) if viewer is not None else "",
        )
        needle = query.casefold()
        shown = [n for n in readable if valid_repository_name(n) and needle in n.casefold()]
        index = await console.run(index_of, console.runtime, shown)
        columns: dict[str, Callable[[str], Any]] = {"name": lambda n: n}
        if index:
            columns.update(push=sort_by(index, "push"), pull=sort_by(index, "pull"))
        rows = table(shown, request.query_params, columns, default="name")
        return console.render(
            request,
            "repositories.html",
            viewer=viewer,
            active="repositories",
            q=query,
            unavailable="",
            rows=rows,
            cut=catalog.cut,
            index=index,
        )

    async def repository(request: Request) -> Response:
        viewer = await console.viewer(request)
        name = request.path_params["name"]
        if not valid_repository_name(name) or not await may(request, viewer, name, "pull"):
            raise PageError(404, NOT_FOUND)
        try:
            tags = await repos.tags(name)
        except RegistryNotFound:
            raise PageError(404, NOT_FOUND) from None
        except RegistryUnavailable as down:
            log.warning("console registry unavailable", reason=down.message)
            raise PageError(down.status, down.message, title=UNAVAILABLE) from None
        rows = table(
            tags,
            request.query_params,
            {
                "tag": lambda row: row.tag,
                "created": lambda row: row.created,
                "size": lambda row: row.size,
            },
            default="tag",
        )
        can_delete = viewer is not None and await may(request, viewer, name, "delete")
        activity = await console.run(repository_activity, console.runtime, name)
        return console.render(
            request,
            "repository.html",
            viewer=viewer,
            active="repositories",
            title=name,
            name=name,
            rows=rows,
            can_delete=can_delete,
            activity=activity,
            pull_commands={row.tag: _pull_command(host, name, row) for row in tags},
        )

    async def delete(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        form = await console.form(request, viewer)
        name = request.path_params["name"]
        reference = form.text("reference")
        if not valid_repository_name(name) or not await may(request, viewer, name, "pull"):
            raise PageError(404, NOT_FOUND)
        if not valid_digest(reference):
            raise PageError(400, "Name the manifest to delete by its digest (sha256:...).")
        if not await may(request, viewer, name, "delete"):
            raise PageError(403, f"Your grants do not include deleting in {name}.")
        try:
            await repos.delete(name, reference)
        except RegistryNotFound:
            raise PageError(404, "The registry has no such manifest (deleted already?).") from None
        except RegistryRefused as refused:
            if refused.status == 405:
                raise PageError(405, DELETES_OFF, title="Deleting is switched off") from None
            raise PageError(
                409, f"The registry refused the delete ({refused.code}).", title="Refused"
            ) from None
        except RegistryUnavailable as down:
            log.warning("console registry unavailable", reason=down.message)
            raise PageError(down.status, down.message, title=UNAVAILABLE) from None
        log.info(
            "console manifest deleted",
            user=viewer.username,
            repository=name,
            digest=reference,
            client=console.client_address(request),
        )
        return console.redirect(f"/repositories/{name}", done="manifest-deleted")

    return [
        Route(console.route("/repositories"), listing, methods=["GET", "HEAD"]),
        # before the page's route: its {name:path} would swallow "/-/delete"
        Route(console.route("/repositories/{name:path}/-/delete"), delete, methods=["POST"]),
        Route(console.route("/repositories/{name:path}"), repository, methods=["GET", "HEAD"]),
    ]


def _pull_command(host: str, name: str, row: TagRow) -> str:
    return f"docker pull {host}/{name}:{row.tag}"
