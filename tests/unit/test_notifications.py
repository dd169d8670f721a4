"""The registry's notification envelope, parsed: what 2.8 and 3.x send is read field by field;
anything missing, oversized or unknown is a ParseError naming the event and the field."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import orjson
import pytest

from regauth.protocol.notifications import ParseError, is_manifest, parse_envelope

DIGEST = "sha256:" + "ab" * 32

#: a manifest push as registry 2.8.2 sends it (captured from the e2e test's registry)
PUSH_28: dict[str, Any] = {
    "id": "9c2b2a4e-6f8d-4f2e-9d0b-0d5a1c2e3f40",
    "timestamp": "2026-01-18T14:37:42.194082639Z",
    "action": "push",
    "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": 528,
        "digest": DIGEST,
        "length": 528,
        "repository": "team/app",
        "url": f"http://127.0.0.1:5000/v2/team/app/manifests/{DIGEST}",
        "tag": "1",
    },
    "request": {
        "id": "r1",
        "addr": "127.0.0.1:51234",
        "host": "127.0.0.1:5000",
        "method": "PUT",
        "useragent": "skopeo/1.9.3",
    },
    "actor": {"name": "alice"},
    "source": {"addr": "node-1:5000", "instanceID": "f3b1"},
}


def envelope(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"events": list(events)})


def with_field(path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(PUSH_28)
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return event


def test_a_push_as_registry_28_sends_it() -> None:
    (event,) = parse_envelope(envelope(PUSH_28))
    assert event.id == PUSH_28["id"]
    assert event.at == datetime.datetime(2026, 1, 18, 14, 37, 42, 194082, tzinfo=datetime.UTC)
    assert (event.action, event.repository, event.tag, event.digest) == (
        "push",
        "team/app",
        "1",
        DIGEST,
    )
    assert (event.media_type, event.size, event.manifest) == (
        "application/vnd.oci.image.manifest.v1+json",
        528,
        True,
    )
    assert (event.actor, event.client_addr, event.user_agent) == (
        "alice",
        "127.0.0.1:51234",
        "skopeo/1.9.3",
    )
    assert (event.source, event.instance_id) == ("node-1:5000", "f3b1")


def test_anonymous_pull_of_a_blob_and_deletes_without_digest_or_tag() -> None:
    blob = with_field("action", "pull")
    blob["actor"] = {}
    blob["target"]["url"] = f"http://r/v2/team/app/blobs/{DIGEST}"
    blob["target"]["mediaType"] = "application/octet-stream"
    tag_delete = {  # 3.x: a tag deleted, no digest
        "id": "d1",
        "timestamp": "2026-01-18T15:00:00+01:00",
        "action": "delete",
        "target": {"repository": "team/app", "tag": "1"},
    }
    repo_delete = {**tag_delete, "id": "d2", "target": {"repository": "team/app"}}
    pulled, tag_deleted, repo_deleted = parse_envelope(envelope(blob, tag_delete, repo_delete))
    assert pulled.actor is None and not pulled.manifest
    assert tag_deleted.at.hour == 14 and tag_deleted.tag == "1" and tag_deleted.digest is None
    assert repo_deleted.tag is None and repo_deleted.manifest


def test_unknown_fields_are_ignored_and_echoed_fields_clipped() -> None:
    event = with_field("target.references", [{"digest": DIGEST}])
    event["request"]["useragent"] = "x" * 5000 + "\n"
    event["request"]["addr"] = "1.2.3.4\x00"
    (parsed,) = parse_envelope(envelope(event))
    assert parsed.user_agent == "x" * 256
    assert parsed.client_addr == "1.2.3.4?"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (with_field("id", ...), "events[0].id: missing"),
        (with_field("id", "x" * 129), "events[0].id: longer than 128"),
        (with_field("action", "copy"), "events[0].action: 'copy', expected one of"),
        (with_field("action", ...), "events[0].action: missing"),
        (with_field("timestamp", "yesterday"), "events[0].timestamp: not an RFC 3339"),
        (with_field("timestamp", "2026-01-18T14:37:42"), "events[0].timestamp: has no time zone"),
        (with_field("timestamp", "0001-01-01T00:00:00Z"), "events[0].timestamp: missing"),
        (with_field("target", ...), "events[0].target: missing"),
        (with_field("target.repository", ...), "events[0].target.repository: missing"),
        (with_field("target.repository", "Team/App"), "events[0].target.repository: not a valid"),
        (with_field("target.repository", "a" * 256), "events[0].target.repository: longer"),
        (with_field("target.digest", ...), "events[0].target.digest: missing"),
        (with_field("target.digest", "sha256"), "events[0].target.digest: not a valid"),
        (with_field("target.tag", "t" * 129), "events[0].target.tag: longer than 128"),
        (with_field("target.size", -1), "events[0].target.size: out of range"),
        (with_field("target.size", "12"), "events[0].target.size: expected an integer"),
        (with_field("target.mediaType", 5), "events[0].target.mediaType: expected a string"),
        (with_field("actor", "alice"), "events[0].actor: expected an object"),
        (with_field("actor.name", "a" * 257), "events[0].actor.name: longer than 256"),
    ],
)
def test_a_bad_event_names_its_index_and_field(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_envelope(envelope(event))
    assert str(caught.value).startswith(message)


def test_the_index_is_the_bad_events_own() -> None:
    with pytest.raises(ParseError, match=r"^events\[2\]\.target\.repository: missing"):
        parse_envelope(
            envelope(
                with_field("id", "a"), with_field("id", "b"), with_field("target.repository", ...)
            )
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "body: not JSON"),
        (b"[]", "body: expected a JSON object"),
        (b'{"Events": []}', "body.events: missing"),
        (b'{"events": {}}', "body.events: expected a list"),
        (envelope(PUSH_28, PUSH_28), "events[1].id: repeats"),
        (b'{"events": [1]}', "events[0]: expected an object"),
    ],
)
def test_a_bad_envelope_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_envelope(body)
    assert str(caught.value).startswith(message)


def test_an_empty_envelope_has_no_events() -> None:
    assert parse_envelope(b"{}") == []
    assert parse_envelope(b'{"events": []}') == []


@pytest.mark.parametrize(
    ("media_type", "url", "manifest"),
    [
        ("application/vnd.oci.image.index.v1+json", None, True),
        ("application/vnd.docker.distribution.manifest.list.v2+json", None, True),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", None, False),
        ("application/octet-stream", "http://r/v2/a/manifests/sha256:x", True),
        ("application/vnd.oci.image.manifest.v1+json", "http://r/v2/a/blobs/sha256:x", False),
        (None, None, False),
    ],
)
def test_manifest_or_blob(media_type: str | None, url: str | None, manifest: bool) -> None:
    assert is_manifest(media_type, url) is manifest
