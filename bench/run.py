"""Run the benchmarks and record their figures.

    python bench/run.py                          # everything, about 16 minutes
    python bench/run.py --seconds 3 --only warm  # one scenario, shorter

Writes bench/results/latest.json and latest.md (the tables copied into BENCHMARKS.md).
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

from bench.loadgen import get_request, run_load
from bench.servers import Server, cpu_seconds, free_port, rss_kib, start_floor, start_regauth
from bench.wrk import run_wrk

RESULTS = Path(__file__).resolve().parent / "results"
USER, PASSWORD = "bench", "bench-password"
SCOPE = "repository:bench/app:pull,push"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def regauth_config(
    workdir: Path, cost: int = 10, audit: bool = True, guessing_limits: bool = True
) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    config = workdir / f"regauth-{audit}-{guessing_limits}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "audit": {"enabled": audit},
                "brute_force": {"enabled": guessing_limits},
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


def measure_alternating(
    servers: dict[str, tuple[Server, str]],
    header: dict[str, str],
    seconds: float,
    rounds: int,
    lua: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Measure running servers in alternation, ``rounds`` times each, then stop them: the
    median rate, its run's latencies, the median p99 and every round's rate, per server.

    The machine's speed drifts from one minute to the next; servers measured one after the
    other would compare two different machines."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    try:
        for server, path in servers.values():
            run_wrk(server.url + path, headers=header, seconds=3, lua=lua)
        for _ in range(rounds):
            for name, (server, path) in servers.items():
                pids = server.pids()
                before = cpu_seconds(pids)
                measured = run_wrk(server.url + path, headers=header, seconds=seconds, lua=lua)
                run = measured.as_dict()
                # CPU per token of the server's processes: steadier than the rate on a machine
                # whose speed drifts, and what the rate costs
                run["server_cpu_us"] = round(
                    (cpu_seconds(pids) - before) / max(measured.requests, 1) * 1e6, 1
                )
                runs[name].append(run)
    finally:
        for server, _ in servers.values():
            server.stop()
    results: dict[str, dict[str, Any]] = {}
    for name, measured in runs.items():
        ordered = sorted(measured, key=lambda r: r["requests_per_second"])
        median = dict(ordered[len(ordered) // 2])
        median["p99_ms"] = sorted(r["p99_ms"] for r in measured)[len(measured) // 2]
        median["server_cpu_us"] = sorted(r["server_cpu_us"] for r in measured)[len(measured) // 2]
        median["all_rates"] = [r["requests_per_second"] for r in measured]
        median["all_p99_ms"] = [r["p99_ms"] for r in measured]
        results[name] = median
    return results


def bench_warm(workdir: Path, workers: int, seconds: float, rounds: int = 5) -> dict[str, Any]:
    """One user, warm credentials, 32 connections: regauth beside the floor handler, running
    side by side (an idle one costs nothing) and measured in alternation; the ratio is of the
    medians. The floor runs twice: on stock uvicorn (the floor of issue 5) and on regauth's
    HTTP protocol, which shows regauth's own cost apart from what its serving layer saves."""
    header = {"Authorization": basic_header(USER, PASSWORD)}
    query = f"/auth?service=registry&scope={SCOPE}&account={USER}"
    servers = {
        "floor": (start_floor(workdir, workers), "/"),
        "floor_paired_writes": (start_floor(workdir, workers, paired_writes=True), "/"),
    }
    variants = (
        ("regauth", True, True),
        ("regauth_without_audit", False, True),
        ("regauth_without_guessing_limits", True, False),
    )
    for name, audit, limits in variants:
        config = regauth_config(workdir, audit=audit, guessing_limits=limits)
        data_dir = workdir / f"warm-data-{name}"
        servers[name] = (start_regauth(workdir, config, workers, data_dir=data_dir), query)
    results: dict[str, Any] = {"rounds": rounds}
    results.update(measure_alternating(servers, header, seconds, rounds))
    for floor in ("floor", "floor_paired_writes"):
        floor_rate = results[floor]["requests_per_second"]
        for name in ("regauth", "regauth_without_audit"):
            results[f"{name}_over_{floor}"] = round(
                results[name]["requests_per_second"] / floor_rate, 3
            )
    results["guessing_limits_cpu_overhead"] = round(
        results["regauth"]["server_cpu_us"]
        / max(results["regauth_without_guessing_limits"]["server_cpu_us"], 0.001)
        - 1,
        3,
    )
    return results


def start_registry(workdir: Path, htpasswd: Path) -> Server:
    port = free_port()
    config = workdir / f"registry-{port}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(workdir / f"storage-{port}")}},
                "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"},
                "auth": {"htpasswd": {"realm": "bench", "path": str(htpasswd)}},
            }
        )
    )
    return Server(["docker-registry", "serve", str(config)], port, "/v2/", workdir)


def bench_registry_htpasswd(workdir: Path, seconds: float, cost: int) -> dict[str, Any]:
    """The registry's own htpasswd auth: bcrypt on every request (as docker_auth does)."""
    htpasswd = workdir / f"registry-{cost}.htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    registry = start_registry(workdir, htpasswd)
    header = {"Authorization": basic_header(USER, PASSWORD)}
    try:
        run_wrk(registry.url + "/v2/", headers=header, seconds=2)
        return run_wrk(registry.url + "/v2/", headers=header, seconds=seconds).as_dict()
    finally:
        registry.stop()


def _hash_cost5(name: str) -> str:
    return f"{name}:" + bcrypt.hashpw(f"pw-{name}".encode(), bcrypt.gensalt(5)).decode()


def bench_many_users(workdir: Path, workers: int, users: int) -> dict[str, Any]:
    """Each of many htpasswd users (bcrypt cost 5) asks once: the cold path."""
    import multiprocessing

    names = [f"user{i:05d}" for i in range(users)]
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        lines = pool.map(_hash_cost5, names, chunksize=200)
    htpasswd = workdir / "many.htpasswd"
    htpasswd.write_text("\n".join(lines) + "\n")
    config = workdir / "many.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "htpasswd": str(htpasswd),
                "acl": [{"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]}],
            }
        )
    )
    server = start_regauth(workdir, config, workers, data_dir=workdir / "many-data")
    try:
        host = f"127.0.0.1:{server.port}"
        requests = [
            get_request(
                host,
                f"/auth?service=registry&scope=repository:{n}/app:pull&account={n}",
                {"Authorization": basic_header(n, f"pw-{n}")},
            )
            for n in names
        ]
        result = run_load("127.0.0.1", server.port, requests, connections=32)
    finally:
        server.stop()
    return result.as_dict()


def rules_config(workdir: Path, count: int, indexed: bool) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    rules: list[dict[str, Any]] = []
    for i in range(count - 1):
        if indexed:  # the usual shape: a rule per user or per project
            rules.append(
                {
                    "match": {"account": f"user{i}", "name": f"team{i}/*"},
                    "actions": ["pull", "push"],
                }
            )
        else:  # the worst shape: regexes no index can narrow
            rules.append({"match": {"account": f"/user{i}-.*/"}, "actions": ["pull"]})
    rules.append({"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]})
    config = workdir / f"rules-{count}-{indexed}.yaml"
    config.write_text(yaml.safe_dump({"users": {USER: {"password": hashed}}, "acl": rules}))
    return config


#: a wrk script asking for a different repository every time (bench/app-THREAD-N), so that
#: neither the remembered grants nor the ACL decision cache can answer: every request is
#: authorized by the rules (its login stays in the credential cache)
DISTINCT_REPOSITORIES = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  counter = 0
end
function request()
  counter = counter + 1
  return wrk.format(nil, "/auth?service=registry&account=bench&scope=repository:bench/app-"
    .. id .. "-" .. counter .. ":pull,push")
end
"""


def bench_rules(workdir: Path, workers: int, seconds: float, rounds: int = 3) -> dict[str, Any]:
    """10, 10,000 and 10,000 regex rules, side by side, in alternation; every request names a
    new repository, so the rules decide each one."""
    header = {"Authorization": basic_header(USER, PASSWORD)}
    servers = {
        label: (
            start_regauth(
                workdir,
                rules_config(workdir, count, indexed),
                workers,
                data_dir=workdir / f"rules-data-{count}-{indexed}",
            ),
            "/auth",
        )
        for label, count, indexed in (
            ("10", 10, True),
            ("10000", 10000, True),
            ("10000 regex", 10000, False),
        )
    }
    results: dict[str, Any] = {"rounds": rounds}
    results.update(measure_alternating(servers, header, seconds, rounds, lua=DISTINCT_REPOSITORIES))
    base = results["10"]["requests_per_second"]
    results["cost_10000_over_10"] = round(base / results["10000"]["requests_per_second"] - 1, 3)
    results["cost_10000_regex_over_10"] = round(
        base / results["10000 regex"]["requests_per_second"] - 1, 3
    )
    return results


def bench_memory(workdir: Path, workers: int, users: int) -> dict[str, Any]:
    """Resident size per worker with many users in the store, after some load."""
    from sqlalchemy import insert

    from regauth.accounts import AccountService
    from regauth.store.database import Database
    from regauth.store.models import User, utcnow

    data_dir = workdir / "memory-data"
    data_dir.mkdir()
    database = Database(f"sqlite:///{data_dir / 'regauth.db'}")
    database.ensure_schema(upgrade=False)
    accounts = AccountService(database)
    accounts.create_user(USER, password=PASSWORD)
    with database.read() as session:
        stored = session.execute(User.__table__.select().where(User.username == USER)).first()
    password_hash = stored.password_hash if stored is not None else None
    now = utcnow()
    with database.write() as session:
        for start in range(0, users, 5000):
            session.execute(
                insert(User),
                [
                    {
                        "username": f"member{i:06d}",
                        "password_hash": password_hash,
                        "enabled": True,
                        "is_admin": False,
                        "source": "local",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(start + 5000, users))
                ],
            )
    database.dispose()
    config = workdir / "memory.yaml"
    config.write_text("{}\n")
    server = start_regauth(workdir, config, workers, data_dir=data_dir)
    try:
        header = {"Authorization": basic_header(USER, PASSWORD)}
        run_wrk(server.url + f"/auth?service=registry&scope={SCOPE}", headers=header, seconds=5)
        host = f"127.0.0.1:{server.port}"
        requests = [
            get_request(
                host,
                "/auth?service=registry",
                {"Authorization": basic_header(f"member{i:06d}", PASSWORD)},
            )
            for i in range(0, users, max(1, users // 200))
        ]
        run_load("127.0.0.1", server.port, requests, connections=8)
        pids = server.pids()
        workers_rss = [rss_kib(pid) for pid in pids[1:]] or [rss_kib(pids[0])]
    finally:
        server.stop()
    return {
        "users": users,
        "worker_rss_mb": [round(kib / 1024, 1) for kib in workers_rss],
        "max_worker_rss_mb": round(max(workers_rss) / 1024, 1),
    }


def bench_help(runs: int = 10) -> dict[str, Any]:
    import subprocess
    import time

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "regauth", "--help"], check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return {"median_s": round(timings[len(timings) // 2], 3), "max_s": round(timings[-1], 3)}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Run {results['date']} on {results['cores']} cores ({results['machine']}, Python "
        f"{results['python']}), {results['workers']} workers, load generator on the same "
        f"machine, {results['seconds']:.0f} s per wrk measurement; warm tokens are the medians "
        f"of {results.get('warm', {}).get('rounds', 1)} alternating rounds.",
        "",
    ]
    warm = results.get("warm")
    if warm:
        lines += [
            "| warm tokens, 32 connections | tokens/s | p50 ms | p99 ms | server CPU µs/token "
            "| non-2xx |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        rows = [
            ("floor handler (stock uvicorn)", warm["floor"]),
            ("floor handler on regauth's HTTP protocol", warm["floor_paired_writes"]),
            ("regauth (every feature on, audit trail included)", warm["regauth"]),
            ("regauth, audit trail off", warm["regauth_without_audit"]),
        ]
        if "regauth_without_guessing_limits" in warm:
            rows.append(("regauth, guessing limits off", warm["regauth_without_guessing_limits"]))
        for cost in (10, 5):
            key = f"registry_htpasswd_cost{cost}"
            if key in results:
                rows.append((f"docker-registry htpasswd, bcrypt cost {cost}", results[key]))
        for label, r in rows:
            cpu = f"{r['server_cpu_us']:.0f}" if "server_cpu_us" in r else "-"
            lines.append(
                f"| {label} | {r['requests_per_second']:.0f} | {r['p50_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {cpu} | {r['non_2xx']} |"
            )
        lines += [
            "",
            f"- regauth / floor = **{warm['regauth_over_floor']:.2f}** (audit trail off: "
            f"{warm['regauth_without_audit_over_floor']:.2f})",
            f"- regauth / floor on regauth's HTTP protocol = "
            f"**{warm['regauth_over_floor_paired_writes']:.2f}** (audit trail off: "
            f"{warm['regauth_without_audit_over_floor_paired_writes']:.2f})",
        ]
        if "guessing_limits_cpu_overhead" in warm:
            lines.append(
                "- the guessing limits cost "
                f"**{warm['guessing_limits_cpu_overhead'] * 100:+.1f}%** server CPU per token "
                "(regauth beside the same server with `brute_force.enabled: false`)"
            )
        for cost in (10, 5):
            key = f"registry_htpasswd_cost{cost}"
            if key in results:
                ratio = warm["regauth"]["requests_per_second"] / max(
                    results[key]["requests_per_second"], 0.001
                )
                lines.append(f"- regauth / registry htpasswd (cost {cost}) = **{ratio:.0f}x**")
        lines.append("")
    many = results.get("many_users")
    if many:
        lines += [
            f"Many users: {many['requests']} distinct htpasswd users (bcrypt cost 5), each asking "
            f"once, 32 connections: **{many['requests_per_second']:.0f} tokens/s**, p50 "
            f"{many['p50_ms']:.1f} ms, p99 {many['p99_ms']:.1f} ms, statuses {many['statuses']}.",
            "",
        ]
    rules = results.get("rules")
    if rules:
        lines += [
            f"Rules: medians of {rules['rounds']} alternating rounds; every request names a new "
            "repository (`bench/app-THREAD-N`), so the rules decide each one.",
            "",
            "| ACL rules (a new repository each request) | tokens/s | p50 ms | p99 ms "
            "| server CPU µs/token |",
            "|---|---:|---:|---:|---:|",
        ]
        for label in ("10", "10000", "10000 regex"):
            r = rules[label]
            lines.append(
                f"| {label} | {r['requests_per_second']:.0f} | {r['p50_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['server_cpu_us']:.0f} |"
            )
        lines += [
            "",
            f"- 10,000 per-user rules cost **{rules['cost_10000_over_10'] * 100:+.0f}%** "
            "against 10",
            f"- 10,000 regex rules (no index applies) cost "
            f"**{rules['cost_10000_regex_over_10'] * 100:+.0f}%** against 10",
            "",
        ]
    memory = results.get("memory")
    if memory:
        lines += [
            f"Memory: {memory['users']} users in the store, after warm load and 200 database "
            f"logins: resident size per worker {memory['worker_rss_mb']} MB (max "
            f"**{memory['max_worker_rss_mb']} MB**).",
            "",
        ]
    help_timing = results.get("help")
    if help_timing:
        lines.append(
            f"`regauth --help`: median **{help_timing['median_s']} s** over 10 runs "
            f"(max {help_timing['max_s']} s)."
        )
    return "\n".join(lines)


SCENARIOS = ("warm", "registry", "many_users", "rules", "memory", "help")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--users", type=int, default=10000, help="many-users scenario size")
    parser.add_argument("--store-users", type=int, default=100000, help="memory scenario size")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {', '.join(SCENARIOS)}",
    )
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "workers": args.workers,
        "seconds": args.seconds,
    }
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        if "warm" in chosen:
            results["warm"] = bench_warm(workdir, args.workers, args.seconds)
        if "registry" in chosen:
            for cost in (10, 5):
                results[f"registry_htpasswd_cost{cost}"] = bench_registry_htpasswd(
                    workdir, args.seconds, cost
                )
        if "many_users" in chosen:
            results["many_users"] = bench_many_users(workdir, args.workers, args.users)
        if "rules" in chosen:
            results["rules"] = bench_rules(workdir, args.workers, args.seconds)
        if "memory" in chosen:
            results["memory"] = bench_memory(workdir, args.workers, args.store_users)
        if "help" in chosen:
            results["help"] = bench_help()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(markdown(results) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
