"""Property tests over the registry's notification envelope parser: any body is either a list
of events that keep the parser's promises (lengths, grammar, UTC times, known actions) or a
ParseError naming where it went wrong; never another exception, never slowly. Well-formed
events survive the round trip unchanged."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from regauth.protocol.notifications import (
    ACTIONS,
    ACTOR_LENGTH,
    REPOSITORY_LENGTH,
    TAG_LENGTH,
    USER_AGENT_LENGTH,
    ParseError,
    parse_envelope,
)
from tests.fuzz.support import count, fuzz

BOUND = 1.0

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
_component = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_repository = st.lists(_component, min_size=1, max_size=4).map("/".join)
_digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_time = st.datetimes(
    min_value=datetime.datetime(2000, 1, 2),
    max_value=datetime.datetime(2200, 1, 1),
    timezones=st.sampled_from([datetime.UTC, datetime.timezone(datetime.timedelta(hours=-7))]),
)


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(ACTIONS))
    target: dict[str, Any] = {"repository": draw(_repository)}
    if action != "delete" or draw(st.booleans()):
        target["digest"] = draw(_digest)
    if draw(st.booleans()):
        target["tag"] = draw(_tag)
    if draw(st.booleans()):
        target["size"] = draw(st.integers(0, 2**40))
    event: dict[str, Any] = {
        "id": draw(st.uuids()).hex,
        "timestamp": draw(_time).isoformat(),
        "action": action,
        "target": target,
        "request": {"useragent": draw(st.text(max_size=400)), "addr": "10.0.0.1:1234"},
    }
    if draw(st.booleans()):
        event["actor"] = {"name": draw(st.from_regex(r"[a-z+@.]{1,30}", fullmatch=True))}
    return event


def _keeps_promises(body: bytes) -> None:
    started = time.perf_counter()
    try:
        events = parse_envelope(body)
    except ParseError as exc:
        message = str(exc)
        assert message.startswith(("body", "events[")) and "\n" not in message
        assert len(message) < 400
    else:
        for event in events:
            assert event.action in ACTIONS
            assert event.at.tzinfo is datetime.UTC
            assert 0 < len(event.repository) <= REPOSITORY_LENGTH
            assert event.tag is None or len(event.tag) <= TAG_LENGTH
            assert event.actor is None or len(event.actor) <= ACTOR_LENGTH
            assert event.user_agent is None or len(event.user_agent) <= USER_AGENT_LENGTH
            assert event.action == "delete" or event.digest is not None
    assert time.perf_counter() - started < BOUND


@fuzz("notification_envelopes")
@given(
    st.one_of(
        st.binary(max_size=300),
        _json.map(lambda v: json.dumps(v).encode()),
        st.lists(_json, max_size=3).map(lambda events: json.dumps({"events": events}).encode()),
        st.lists(
            st.dictionaries(
                st.sampled_from(["id", "timestamp", "action", "target", "actor", "request"]),
                _json,
            ),
            max_size=3,
        ).map(lambda events: json.dumps({"events": events}).encode()),
    )
)
def test_any_body_parses_or_names_the_problem(body: bytes) -> None:
    count()
    _keeps_promises(body)


@fuzz("notification_events")
@given(st.lists(_event(), min_size=1, max_size=5, unique_by=lambda e: e["id"]))
def test_well_formed_events_round_trip(events: list[dict[str, Any]]) -> None:
    count()
    body = orjson.dumps({"events": events})
    _keeps_promises(body)
    parsed = parse_envelope(body)
    assert [e.id for e in parsed] == [e["id"] for e in events]
    for event, raw in zip(parsed, events, strict=True):
        assert event.at == datetime.datetime.fromisoformat(raw["timestamp"])
        assert (event.repository, event.tag, event.digest, event.size) == (
            raw["target"]["repository"],
            raw["target"].get("tag") or None,
            raw["target"].get("digest"),
            raw["target"].get("size"),
        )
        assert event.actor == raw.get("actor", {}).get("name")
