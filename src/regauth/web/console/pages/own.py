"""What the pages of a person's own credentials share (connect, tokens, sessions).

* :func:`apply_change`: enforce a change made from a page in this process at once, as the admin
  API does after each change (other processes follow through the change log within a second);
* :func:`object_id`: the id in a path such as ``/tokens/{id}/revoke``, or a 404;
* :data:`NO_ROW`: why an account without a database row (a static or htpasswd user) holds no
  personal access tokens or refresh tokens.
"""

from __future__ import annotations

import structlog

from regauth.web.console.context import Console, PageError

__all__ = ["NO_ROW", "apply_change", "object_id"]

log = structlog.get_logger("regauth.console")

#: ids are database integers: anything longer is no id of ours
_MAX_ID = 2**63 - 1

NO_ROW = (
    "Your account is defined in regauth's configuration (a static or htpasswd user), not in "
    "its database, so it cannot hold personal access tokens or refresh tokens: sign in to the "
    "registry with your password. An administrator can create a database user for you if you "
    "need tokens."
)


async def apply_change(console: Console) -> None:
    """Apply a change just committed (a token revoked ...) in this process now."""
    try:
        await console.runtime.watcher.poll_once()
    except Exception as exc:  # the change is committed; the periodic poll catches up
        log.warning("applying a change locally failed", error_type=type(exc).__name__)


def object_id(text: str, what: str) -> int:
    """The id a path names; a 404 for anything that cannot be one."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        raise PageError(404, f"There is no such {what} of yours.")
    return int(text)
