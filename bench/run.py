"""Run the benchmarks and record their figures.

    python bench/run.py                 # everything, ~2 minutes
    python bench/run.py --seconds 3     # shorter runs

Writes bench/results/latest.json and prints a Markdown table (copied into BENCHMARKS.md).
Everything runs on loopback; wrk (Debian package ``wrk``) is the load generator, on the same
machine, so compare ratios measured in the same run rather than absolute figures.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import bcrypt
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import start_floor, start_regauth
from bench.wrk import run_wrk

RESULTS = Path(__file__).resolve().parent / "results"
USER, PASSWORD = "bench", "bench-password"
SCOPE = "repository:bench/app:pull,push"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def regauth_config(workdir: Path, cost: int = 10) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    config = workdir / "regauth.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "users": {USER: {"password": hashed}},
                "acl": [
                    {"match": {"account": "admin"}, "actions": ["*"]},
                    {"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]},
                    {"match": {"account": "/.+/"}, "actions": ["pull"]},
                ],
            }
        )
    )
    return config


def bench_warm(workdir: Path, workers: int, seconds: float) -> dict[str, Any]:
    """One user, warm credentials, 32 connections: regauth beside the floor handler."""
    header = {"Authorization": basic_header(USER, PASSWORD)}
    query = f"/auth?service=registry&scope={SCOPE}&account={USER}"
    floor = start_floor(workdir, workers)
    try:
        run_wrk(floor.url + "/", headers=header, seconds=3)
        floor_result = run_wrk(floor.url + "/", headers=header, seconds=seconds)
    finally:
        floor.stop()
    server = start_regauth(workdir, regauth_config(workdir), workers)
    try:
        run_wrk(server.url + query, headers=header, seconds=3)
        regauth_result = run_wrk(server.url + query, headers=header, seconds=seconds)
    finally:
        server.stop()
    return {
        "floor": floor_result.as_dict(),
        "regauth": regauth_result.as_dict(),
        "regauth_over_floor": round(
            regauth_result.requests_per_second / floor_result.requests_per_second, 3
        ),
    }


def markdown(results: dict[str, Any]) -> str:
    warm = results["warm"]
    lines = [
        f"Run {results['date']} on {results['cores']} cores ({results['machine']}), "
        f"{results['workers']} workers, wrk -t2 -c32, {results['seconds']} s per measurement.",
        "",
        "| scenario | tokens/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("floor", "regauth"):
        r = warm[name]
        lines.append(
            f"| warm, {name} | {r['requests_per_second']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['non_2xx']} |"
        )
    lines.append("")
    lines.append(f"regauth / floor = {warm['regauth_over_floor']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "workers": args.workers,
        "seconds": args.seconds,
    }
    with tempfile.TemporaryDirectory() as scratch:
        results["warm"] = bench_warm(Path(scratch), args.workers, args.seconds)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
