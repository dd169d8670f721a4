"""What the fuzz tests share: their example budgets, a count of the cases each one tried, and
the report ``bench/fuzz.py`` reads.

In CI every target runs its :data:`BUDGET` of examples (the whole folder in well under a
minute). ``REGAUTH_FUZZ_SCALE=k`` multiplies every budget by ``k``; ``bench/fuzz.py`` sets it to
reach the number of cases asked for, and ``REGAUTH_FUZZ_REPORT=FILE`` makes the session write,
per test, the cases tried, its outcome and its time (see ``conftest.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

__all__ = [
    "ADMIN_API_OPERATIONS",
    "BUDGET",
    "CASES",
    "SCALE",
    "ci_total",
    "count",
    "examples",
    "fuzz",
]

F = TypeVar("F", bound=Callable[..., Any])

#: examples per target in CI (the admin API's: per operation of its OpenAPI document)
BUDGET: dict[str, int] = {
    "scopes": 400,
    "scope_lists": 200,
    "query_strings": 300,
    "get_requests": 300,
    "oauth2_forms": 300,
    "basic_authorization": 300,
    "admin_authorization": 300,
    "client_addresses": 300,
    "configuration": 150,
    "configuration_yaml": 100,
    "durations": 400,
    "expiries": 300,
    "host_names": 400,
    "token_endpoint": 200,
    "notification_envelopes": 200,
    "notification_events": 100,
    "admin_api": 4,
}
#: operations in the admin API's OpenAPI document (a test checks the number)
ADMIN_API_OPERATIONS = 40
SCALE = float(os.environ.get("REGAUTH_FUZZ_SCALE", "1"))
#: cases tried, by test node id (filled by :func:`count`, read by conftest's report)
CASES: Counter[str] = Counter()
CURRENT = {"test": ""}


def examples(target: str) -> int:
    return max(1, round(BUDGET[target] * SCALE))


def ci_total() -> int:
    """The cases one CI run tries (budgets at scale 1)."""
    return sum(
        count * (ADMIN_API_OPERATIONS if target == "admin_api" else 1)
        for target, count in BUDGET.items()
    )


def fuzz(target: str) -> Callable[[F], F]:
    """Hypothesis settings for ``target``: its budget, no deadline (the tests bound time
    themselves), no example database, health checks that only slow inputs trip left off."""
    return settings(
        max_examples=examples(target),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


def count() -> None:
    """One case tried by the running test."""
    CASES[CURRENT["test"]] += 1
