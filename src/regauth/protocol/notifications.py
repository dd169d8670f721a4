"""The registry's notification envelope, parsed (pure: bytes in, typed events out).

The Distribution registry POSTs ``{"events": [event, ...]}`` to each configured endpoint, with
``Content-Type: application/vnd.docker.distribution.events.v1+json`` (2.x; 3.x names it
``...events.v2+json``, the same shape). 2.8 and 3.x send one event per envelope; older ones
and proxies may batch. Each event (distribution ``notifications/event.go``)::

    {"id": "...", "timestamp": "2026-01-18T14:37:42.194082639Z", "action": "push",
     "target": {"mediaType": ..., "size": 1234, "digest": "sha256:...", "length": 1234,
                "repository": "team/app", "fromRepository": ..., "url": ..., "tag": "1"},
     "request": {"id": ..., "addr": "10.0.0.5:51234", "host": ..., "method": "PUT",
                 "useragent": "skopeo/1.9.3"},
     "actor": {"name": "alice"},            # {} for an anonymous pull
     "source": {"addr": "registry-1:5000", "instanceID": "..."}}

What the registry itself decides (id, time, action, repository, tag, digest, media type, size,
the token subject) is checked strictly: missing, oversized or malformed is a
:class:`ParseError` naming the event's index and the field, and the whole envelope is refused.
What the client controls and the registry only echoes (user agent, client address) is clipped
instead, so no client can jam the registry's retry queue with one long header. Fields this
parser does not know (3.x adds ``references``, ``annotations``, ``platform``...) are ignored.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "ACTIONS",
    "MAX_EVENTS",
    "MEDIA_TYPES",
    "ParseError",
    "RegistryEvent",
    "is_manifest",
    "parse_envelope",
]

#: what the registry reports (distribution's EventAction constants)
ACTIONS = ("push", "pull", "delete", "mount")
#: the envelope's media types (2.x, 3.x) and plain JSON (proxies, hand-written tests)
MEDIA_TYPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
)
#: the most events one envelope may carry
MAX_EVENTS = 10_000

ID_LENGTH = 128
REPOSITORY_LENGTH = 255  # distribution's limit on a repository name
TAG_LENGTH = 128  # the tag grammar's limit
DIGEST_LENGTH = 256
MEDIA_TYPE_LENGTH = 255
ACTOR_LENGTH = 256
ADDRESS_LENGTH = 255
USER_AGENT_LENGTH = 256
MAX_SIZE = 2**63 - 1

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


class ParseError(ValueError):
    """The envelope, or one of its events, is not what the registry sends; the message names
    the event's index and the field (``events[3].target.digest: ...``)."""


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One event of the envelope, as regauth keeps it."""

    id: str
    at: datetime.datetime
    action: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str | None
    size: int | None
    from_repository: str | None
    #: whether the target is a manifest (or index), not a blob (see :func:`is_manifest`)
    manifest: bool
    #: the token subject; None for anonymous
    actor: str | None
    client_addr: str | None
    user_agent: str | None
    #: the registry node (``source.addr``) and its run (``source.instanceID``)
    source: str | None
    instance_id: str | None


def is_manifest(media_type: str | None, url: str | None) -> bool:
    """Whether an event's target is a manifest: its URL names ``/manifests/`` (the registry
    builds it), or, without a URL, its media type names a manifest or an index."""
    if url:
        return "/manifests/" in url
    if not media_type:
        return False
    return "manifest" in media_type or "image.index" in media_type


def _manifest(action: str, media_type: str | None, url: str | None) -> bool:
    if action == "delete":  # a delete names no media type: a manifest's unless a blob URL
        return "/blobs/" not in (url or "")
    return is_manifest(media_type, url)


def parse_envelope(body: bytes) -> list[RegistryEvent]:
    """The events of a notification body, or :class:`ParseError`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"body: not JSON ({str(exc).split(':')[0]})") from None
    if not isinstance(document, dict):
        raise ParseError("body: expected a JSON object with an 'events' list")
    events = document.get("events")
    if events is None:
        # Go omits an empty list (`omitempty`): an envelope with no events
        if "events" in document or not document:
            return []
        raise ParseError("body.events: missing")
    if not isinstance(events, list):
        raise ParseError("body.events: expected a list")
    if len(events) > MAX_EVENTS:
        raise ParseError(f"body.events: more than {MAX_EVENTS} events")
    parsed = [_event(raw, f"events[{index}]") for index, raw in enumerate(events)]
    seen: set[str] = set()
    for index, event in enumerate(parsed):
        if event.id in seen:
            raise ParseError(f"events[{index}].id: repeats an earlier event of this envelope")
        seen.add(event.id)
    return parsed


def _object(value: Any, where: str, *, required: bool) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise ParseError(f"{where}: missing")
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"{where}: expected an object")
    return value


def _text(
    record: Mapping[str, Any],
    key: str,
    where: str,
    limit: int,
    *,
    pattern: re.Pattern[str] = _PRINTABLE,
) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ParseError(f"{where}.{key}: expected a string")
    if len(value) > limit:
        raise ParseError(f"{where}.{key}: longer than {limit} characters")
    if not pattern.fullmatch(value):
        raise ParseError(f"{where}.{key}: not a valid value: {value[:40]!r}")
    return value


def _echoed(record: Mapping[str, Any], key: str, where: str, limit: int) -> str | None:
    """A value the client chose and the registry echoes: clipped, never refused for length."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ParseError(f"{where}.{key}: expected a string")
    return "".join(c if " " <= c <= "~" else "?" for c in value[:limit])


def _required(
    record: Mapping[str, Any],
    key: str,
    where: str,
    limit: int,
    pattern: re.Pattern[str] = _PRINTABLE,
) -> str:
    value = _text(record, key, where, limit, pattern=pattern)
    if value is None:
        raise ParseError(f"{where}.{key}: missing")
    return value


def _size(target: Mapping[str, Any], where: str) -> int | None:
    for key in ("size", "length"):
        value = target.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParseError(f"{where}.{key}: expected an integer")
        if not 0 <= value <= MAX_SIZE:
            raise ParseError(f"{where}.{key}: out of range")
        return value
    return None


def _timestamp(event: Mapping[str, Any], where: str) -> datetime.datetime:
    text = _required(event, "timestamp", where, 64)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{where}.timestamp: not an RFC 3339 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise ParseError(f"{where}.timestamp: has no time zone")
    if moment.year < 2000:  # Go's zero time: the registry did not set it
        raise ParseError(f"{where}.timestamp: missing (zero time)")
    return moment.astimezone(datetime.UTC)


def _event(raw: Any, where: str) -> RegistryEvent:
    event = _object(raw, where, required=True)
    event_id = _required(event, "id", where, ID_LENGTH)
    action = event.get("action")
    if action not in ACTIONS:
        shown = repr(action)[:40] if action is not None else "missing"
        raise ParseError(f"{where}.action: {shown}, expected one of {', '.join(ACTIONS)}")
    at = _timestamp(event, where)
    target = _object(event.get("target"), f"{where}.target", required=True)
    twhere = f"{where}.target"
    repository = _required(target, "repository", twhere, REPOSITORY_LENGTH, _REPOSITORY)
    digest = _text(target, "digest", twhere, DIGEST_LENGTH, pattern=_DIGEST)
    tag = _text(target, "tag", twhere, TAG_LENGTH, pattern=_TAG)
    if action != "delete" and digest is None:
        raise ParseError(f"{twhere}.digest: missing")
    media_type = _text(target, "mediaType", twhere, MEDIA_TYPE_LENGTH, pattern=_MEDIA_TYPE)
    from_repository = _text(
        target, "fromRepository", twhere, REPOSITORY_LENGTH, pattern=_REPOSITORY
    )
    url = target.get("url")
    url = url if isinstance(url, str) else None
    actor = _object(event.get("actor"), f"{where}.actor", required=False)
    request = _object(event.get("request"), f"{where}.request", required=False)
    source = _object(event.get("source"), f"{where}.source", required=False)
    return RegistryEvent(
        id=event_id,
        at=at,
        action=action,
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=media_type,
        size=_size(target, twhere),
        from_repository=from_repository,
        manifest=_manifest(action, media_type, url),
        actor=_text(actor, "name", f"{where}.actor", ACTOR_LENGTH),
        client_addr=_echoed(request, "addr", f"{where}.request", ADDRESS_LENGTH),
        user_agent=_echoed(request, "useragent", f"{where}.request", USER_AGENT_LENGTH),
        source=_echoed(source, "addr", f"{where}.source", ADDRESS_LENGTH),
        instance_id=_echoed(source, "instanceID", f"{where}.source", ID_LENGTH),
    )
