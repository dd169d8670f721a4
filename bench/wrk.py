"""Drive wrk (Debian package ``wrk``) and parse its report."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests_per_second": round(self.requests_per_second, 1),
            "requests": self.requests,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "non_2xx": self.non_2xx,
            "errors": self.errors,
        }


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_report(text: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.MULTILINE)
    if not (rate and total and p50 and p99):
        raise ValueError("unexpected wrk output:\n" + text)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in socket_errors.groups()) if socket_errors else 0,
    )


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is needed for the benchmarks: apt-get install -y wrk")
    return path


def run_wrk(
    url: str,
    *,
    connections: int = 32,
    threads: int = 2,
    seconds: float = 10,
    lua: str | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    command = [
        require_wrk(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory() as scratch:
        if lua is not None:
            script = Path(scratch) / "script.lua"
            script.write_text(lua)
            command += ["-s", str(script)]
        command.append(url)
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_report(completed.stdout)
