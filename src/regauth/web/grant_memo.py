"""Grants remembered for token requests seen before.

Clients ask for a new token for every command, with the same credentials and scopes each
time (a CI job pulling the same images, ``docker push`` asking twice). Once a request's login
is in the credential cache, its grant is remembered under a keyed hash (a per-process random
key) of what decided it: the Authorization header, the query string and the client address.
The same request again is answered by signing a new token for the remembered grant, without
parsing, authenticating or authorizing anew; it is still logged and audited like any other.

A remembered grant is used only

* until the moment its login would leave the credential cache (``credential_cache.ttl``), and
* while nothing changed that could change it: ``TokenService.generation`` moves on when a
  cached login is dropped (a password, account or htpasswd file changed) or grants are
  reloaded, and the endpoint catches up with changes made elsewhere before it looks here.

A grant is remembered the second time its request is seen (:class:`SecondSight`): a stream
of requests that never repeat leaves nothing behind. Failures are never remembered, nor grants
that must be checked every time (access tokens, robots, refresh tokens, requests for a refresh
token). Like the credential cache, the memo holds no secret: its keys are MACs, its values
names and decisions.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from regauth.admission import SecondSight
from regauth.authz.base import IpAddress
from regauth.events import GrantEvent
from regauth.protocol.claims import ClaimsTemplate

__all__ = ["GrantMemo", "RememberedGrant"]


class RememberedGrant:
    """A grant ready to be used again: its token claims and its token event, prepared."""

    __slots__ = ("claims", "deadline", "event", "generation")

    def __init__(
        self, claims: ClaimsTemplate, event: GrantEvent, deadline: float, generation: int
    ) -> None:
        self.claims = claims
        self.event = event
        self.deadline = deadline
        self.generation = generation


class GrantMemo:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("a grant memo holds at least one entry")
        self._max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, RememberedGrant] = {}
        self._seen = SecondSight(4 * max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, authorization: bytes, query: bytes, address: IpAddress | None) -> bytes:
        """The MAC that stands for one request: every part length-prefixed, so no two
        different requests share a message."""
        where = address.packed if address is not None else b""
        message = b"%d:%s%d:%s%s" % (len(authorization), authorization, len(query), query, where)
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def get(self, key: bytes, generation: int) -> RememberedGrant | None:
        """The grant remembered for this request, if it still holds."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation or entry.deadline <= self._clock():
            del self._entries[key]
            return None
        return entry

    def admit(self, key: bytes) -> bool:
        """Whether a grant just decided for this request should be remembered: when the
        request was seen before."""
        return self._seen.admit(key)

    def put(
        self,
        key: bytes,
        claims: ClaimsTemplate,
        event: GrantEvent,
        *,
        reusable_for: float,
        generation: int,
    ) -> RememberedGrant:
        """Remember a grant decided when the service was at ``generation`` (read before the
        decision: a change during it leaves the entry stale at once)."""
        entry = RememberedGrant(claims, event, self._clock() + reusable_for, generation)
        entries = self._entries
        entries.pop(key, None)
        while len(entries) >= self._max_entries:
            del entries[next(iter(entries))]  # the oldest
        entries[key] = entry
        return entry

    def clear(self) -> None:
        self._entries.clear()
