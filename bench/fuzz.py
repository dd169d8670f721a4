"""Run the fuzz tests at scale and record the figures.

    python bench/fuzz.py [--cases N]

Runs ``tests/fuzz`` (hypothesis over every parser and the whole app in process, schemathesis
over the admin API against a real ``regauth serve``) with every example budget multiplied so
that at least N cases are tried (default 100,000), then writes the cases tried, the failures
and the time per target to ``bench/results/fuzz.json`` and the table under "## Fuzzing" in
BENCHMARKS.md, and the figures line of the README's "## Reliability" section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.support import ci_total  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fuzz.json"
COMMAND = "python bench/fuzz.py"

#: test function -> the target it fuzzes (parsers first, then the two front ends)
TARGETS = {
    "test_scopes": "scopes",
    "test_scope_lists": "scopes",
    "test_valid_scopes_are_granted_their_names": "scopes",
    "test_query_strings": "query strings",
    "test_query_values_round_trip": "query strings",
    "test_get_requests": "GET token requests (query + Basic)",
    "test_basic_authorization": "Basic Authorization headers",
    "test_basic_credentials_round_trip": "Basic Authorization headers",
    "test_admin_authorization": "admin Authorization headers (Bearer, Basic)",
    "test_oauth2_forms": "OAuth2 forms",
    "test_password_grants_round_trip": "OAuth2 forms",
    "test_client_addresses": "client-address headers",
    "test_host_names": "registry host names",
    "test_valid_host_names_are_accepted": "registry host names",
    "test_durations": "durations",
    "test_seconds": "durations",
    "test_expiries": "expiries and moments",
    "test_configuration_documents": "configuration loader",
    "test_configuration_files": "configuration loader",
    "test_app_never_fails": "the app in process (token endpoint, admin API, login, JWKS)",
    "test_admin_api": "admin API, schemathesis (real regauth serve)",
}
FRONT_ENDS = {TARGETS["test_app_never_fails"], TARGETS["test_admin_api"]}


def run(cases: int) -> dict[str, Any]:
    scale = max(cases / ci_total(), 1.0)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        env = {
            **os.environ,
            "REGAUTH_FUZZ_SCALE": f"{scale:.3f}",
            "REGAUTH_FUZZ_REPORT": str(report),
        }
        log = Path(folder) / "pytest.log"
        started = time.perf_counter()
        with log.open("w") as output:
            finished = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        elapsed = time.perf_counter() - started
        if finished.returncode != 0:  # the counterexamples, for the one who runs it
            print(log.read_text()[-20_000:], file=sys.stderr)
        tests = json.loads(report.read_text())["tests"]
    targets: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"cases": 0, "failures": 0, "seconds": 0.0, "tests": 0}
    )
    for nodeid, entry in tests.items():
        function = re.sub(r"\[.*", "", nodeid.split("::")[-1])
        label = TARGETS.get(function)
        if label is None:  # a plain test of the folder (document checks): not a fuzz target
            continue
        target = targets[label]
        target["cases"] += entry["cases"]
        target["failures"] += int(entry["outcome"] == "failed")
        target["seconds"] += entry["seconds"]
        target["tests"] += 1
    return {
        "date": datetime.date.today().isoformat(),
        "command": f"{COMMAND} --cases {cases}",
        "scale": round(scale, 3),
        "pytest_exit": finished.returncode,
        "seconds": round(elapsed, 1),
        "cases": sum(t["cases"] for t in targets.values()),
        "failures": sum(t["failures"] for t in targets.values()),
        "parsers": len([name for name in targets if name not in FRONT_ENDS]),
        "targets": {
            name: {**t, "seconds": round(t["seconds"], 1)} for name, t in sorted(targets.items())
        },
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        "| target | cases | failures | time (s) |",
        "|---|---:|---:|---:|",
    ]
    for name, target in result["targets"].items():
        rows.append(
            f"| {name} | {target['cases']:,} | {target['failures']} | {target['seconds']:.1f} |"
        )
    rows.append(
        f"| **total** | **{result['cases']:,}** | **{result['failures']}** | "
        f"**{result['seconds']:.0f}** (wall) |"
    )
    return "\n".join(rows)


def summary(result: dict[str, Any]) -> str:
    return (
        f"Fuzzing: {result['cases']:,} cases over {result['parsers']} parsers and the admin API, "
        f"{result['failures']} failures, {result['seconds']:.0f} s (`{COMMAND}`)."
    )


def write_benchmarks(result: dict[str, Any]) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    section = (
        "## Fuzzing\n\n"
        f"`{result['command']}` on {result['date']} (2 cores): hypothesis over every parser and "
        "the whole app in process, schemathesis over the admin API's OpenAPI document against a "
        "real `regauth serve`; every example budget of `tests/fuzz` (the CI run) multiplied by "
        f"{result['scale']}. A failure is a test that found a counterexample: a 5xx, an "
        "exception other than the parser's own error, an answer out of step with the OpenAPI "
        "document, or a call slower than its bound. Cases are the examples each test ran.\n\n"
        f"{table(result)}\n\n{summary(result)}\n"
    )
    pattern = re.compile(r"## Fuzzing\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(section.rstrip("\n"), text)
        if pattern.search(text)
        else (text.rstrip("\n") + "\n\n" + section)
    )
    path.write_text(text if text.endswith("\n") else text + "\n")


def write_readme(result: dict[str, Any]) -> None:
    path = ROOT / "README.md"
    text = path.read_text()
    line = f"- {summary(result)} Table: [BENCHMARKS.md](BENCHMARKS.md#fuzzing)."
    existing = re.compile(r"^- Fuzzing: .*$", re.MULTILINE)
    if existing.search(text):
        text = existing.sub(line, text)
    elif "## Reliability" in text:
        text = text.replace("## Reliability\n\n", f"## Reliability\n\n{line}\n", 1)
    else:
        text = text.rstrip("\n") + f"\n\n## Reliability\n\n{line}\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to try at least")
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures; leave the files alone"
    )
    args = parser.parse_args()
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    result = run(args.cases)
    print(table(result))
    print(summary(result))
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        write_benchmarks(result)
        write_readme(result)
    return 0 if result["pytest_exit"] == 0 and result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
