"""Counting the cases each fuzz test tries, and the report ``bench/fuzz.py`` reads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz import support

_RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _current_test(request: pytest.FixtureRequest) -> Iterator[None]:
    support.CURRENT["test"] = request.node.nodeid
    yield
    support.CURRENT["test"] = ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _RESULTS.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] += report.duration
    if report.failed:
        entry["outcome"] = "failed"
    elif report.skipped and report.when == "setup":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session) -> None:
    destination = os.environ.get("REGAUTH_FUZZ_REPORT")
    if not destination:
        return
    tests = {
        nodeid: {**entry, "cases": support.CASES.get(nodeid, 0)}
        for nodeid, entry in _RESULTS.items()
        if "tests/fuzz/" in nodeid
    }
    Path(destination).write_text(json.dumps({"scale": support.SCALE, "tests": tests}, indent=1))
