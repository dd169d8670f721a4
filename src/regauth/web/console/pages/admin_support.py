"""What the administration pages share: doing an account operation, and logging it.

Every administration page module (``admin_*``) reads its forms through :meth:`Console.form`
(CSRF first), then calls :func:`perform`: the account operation on the database threads, the
change applied in this process at once (other processes follow within a second, as after the
admin API), and one log line naming the administrator and what they did, never a secret.
Account errors (:class:`~regauth.accounts.AccountError`) pass through to the page, which
shows them beside the field with their status (400, 404, 409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from starlette.requests import Request

from regauth.accounts.listings import Page
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.tables import PAGE_SIZE

__all__ = ["MAX_ID", "apply_change", "listing_page", "perform", "query_text", "row_id"]

log = structlog.get_logger("regauth.console")

T = TypeVar("T")

#: the largest id a path may name (a database integer); larger ones are simply not found
MAX_ID = 2**63 - 1


async def apply_change(console: Console) -> None:
    """Apply a committed change in this process now, as the admin API does."""
    try:
        await console.runtime.watcher.poll_once()
    except Exception as exc:  # the change is committed; the watcher catches up on its own
        log.warning("applying a change locally failed", error_type=type(exc).__name__)


async def perform(
    console: Console,
    viewer: Viewer,
    action: str,
    function: Callable[..., T],
    /,
    *args: Any,
    log_fields: dict[str, Any] | None = None,
    **kwargs: Any,
) -> T:
    """Run one account operation for an administrator, apply it, and log who did what."""
    result = await console.run(function, *args, **kwargs)
    await apply_change(console)
    log.info("console admin", admin=viewer.username, action=action, **(log_fields or {}))
    return result


def row_id(request: Request, name: str) -> int:
    """An id from the path (the route matched digits only); too large is not found."""
    value = int(request.path_params[name])
    if not 1 <= value <= MAX_ID:
        raise PageError(404, "There is no such item.")
    return value


def query_text(request: Request, name: str, limit: int = 256) -> str:
    """A query parameter, stripped and cut to ``limit`` characters."""
    return request.query_params.get(name, "").strip()[:limit]


def listing_page(sort: str, descending: bool, number: int) -> Page:
    """Page ``number`` (from 1) of a table the database sorts and cuts."""
    return Page(sort, descending, (number - 1) * PAGE_SIZE, PAGE_SIZE)
