"""The metrics recorder: requests counted in plain numbers, handed to prometheus_client in
batches, with the same exposition as one update per request would give."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from regauth.metrics import FLUSH_SECONDS, LATENCY_BUCKETS, Metrics


def exposition(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


LATENCIES = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.02, 0.4, 7.5]


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> Metrics:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return Metrics()


async def test_batched_records_give_the_histogram_one_update_each_would(metrics: Metrics) -> None:
    counter = metrics.token_counter("granted", "static", reused=True)
    for latency in LATENCIES:
        counter.record(latency)
    assert (
        exposition(metrics)[("regauth_token_request_duration_seconds_count", ())] == 0
    )  # not yet: within FLUSH_SECONDS
    await asyncio.sleep(FLUSH_SECONDS * 2)
    found = exposition(metrics)
    series = (("method", "static"), ("outcome", "granted"), ("reused", "true"))
    assert found[("regauth_token_requests_total", series)] == len(LATENCIES)
    assert found[("regauth_token_request_duration_seconds_count", ())] == len(LATENCIES)
    assert found[("regauth_token_request_duration_seconds_sum", ())] == pytest.approx(
        sum(LATENCIES)
    )
    for bound in LATENCY_BUCKETS:
        expected = len([latency for latency in LATENCIES if latency <= bound])
        label = (("le", str(bound)),)
        assert found[("regauth_token_request_duration_seconds_bucket", label)] == expected
    assert found[("regauth_token_request_duration_seconds_bucket", (("le", "+Inf"),))] == 8


async def test_a_flush_before_a_scrape_and_later_records_again(metrics: Metrics) -> None:
    first = metrics.token_counter("denied", "htpasswd", reused=False)
    second = metrics.token_counter("rejected", None, reused=False)
    first.record(0.001)
    second.record(0.002)
    metrics.flush()
    found = exposition(metrics)
    assert found[("regauth_token_request_duration_seconds_count", ())] == 2
    first.record(0.001)  # recorded again after a flush: scheduled again
    await asyncio.sleep(FLUSH_SECONDS * 2)
    found = exposition(metrics)
    denied = (("method", "htpasswd"), ("outcome", "denied"), ("reused", "false"))
    assert found[("regauth_token_requests_total", denied)] == 2
    rejected = (("method", "none"), ("outcome", "rejected"), ("reused", "false"))
    assert found[("regauth_token_requests_total", rejected)] == 1


def test_outside_an_event_loop_records_are_flushed_at_once(metrics: Metrics) -> None:
    metrics.token_counter("granted", "ldap", reused=False).record(0.01)
    assert exposition(metrics)[("regauth_token_request_duration_seconds_count", ())] == 1


def test_labels_name_only_known_methods(metrics: Metrics) -> None:
    metrics.token_counter("granted", "alice's own backend", reused=False).record(0.01)
    metrics.backend_error("ldap")
    metrics.backend_error("something else")
    found = exposition(metrics)
    other = (("method", "other"), ("outcome", "granted"), ("reused", "false"))
    assert found[("regauth_token_requests_total", other)] == 1
    assert found[("regauth_authentication_backend_errors_total", (("backend", "ldap"),))] == 1
    assert found[("regauth_authentication_backend_errors_total", (("backend", "other"),))] == 1
