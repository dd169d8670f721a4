"""deploy/: the systemd unit (``systemd-analyze verify`` and its offline security score) and
the Grafana dashboard (every expression names metrics and labels regauth exposes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from regauth.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

#: what a PromQL expression may name besides metrics: functions, keywords, Grafana variables
PROMQL_WORDS = {
    "sum", "rate", "increase", "histogram_quantile", "by", "le", "job", "outcome", "method",
    "reused", "reason", "backend", "label_values",
}  # fmt: skip


@pytest.fixture(scope="module")
def unit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unit with ExecStart pointing at this environment's regauth (verify checks it)."""
    regauth = Path(sys.executable).parent / "regauth"
    text = (DEPLOY / "regauth.service").read_text()
    assert "ExecStart=/usr/local/bin/regauth serve" in text
    path = tmp_path_factory.mktemp("unit") / "regauth.service"
    path.write_text(text.replace("/usr/local/bin/regauth", str(regauth)))
    return path


def test_systemd_unit_verifies(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # an unknown or misspelt option is only a warning


def test_systemd_unit_is_hardened(unit: Path) -> None:
    text = unit.read_text()
    for option in (
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "StateDirectory=regauth",
    ):
        assert option in text
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    score = re.search(r"Overall exposure level for regauth.service: ([0-9.]+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0


def exposed_metrics() -> dict[str, set[str]]:
    """Every sample name regauth's /metrics shows, with its label names, once each metric
    has a value."""
    metrics = Metrics()
    metrics.token_counter("granted", "database", reused=False).record(0.01)
    metrics.backend_error("ldap")
    metrics.login_refused("throttled")
    metrics.account_locked("someone")
    metrics.audit_flushed(1, 1)
    metrics.flush()
    text, _ = metrics.render()
    samples: dict[str, set[str]] = {}
    for line in text.decode().splitlines():
        if line.startswith("#") or not line:
            continue
        name, _, rest = line.partition("{")
        name = name.split(" ")[0]
        labels = set(re.findall(r"(\w+)=", rest.partition("}")[0])) if rest else set()
        samples.setdefault(name, set()).update(labels)
    return samples


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    expressions += [v["definition"] for v in dashboard["templating"]["list"]]
    return expressions


def test_dashboard_names_only_metrics_that_exist() -> None:
    samples = exposed_metrics()
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    used: set[str] = set()
    for expression in expressions:
        names = set(re.findall(r"\bregauth_\w+", expression))
        assert names, expression
        for name in names:
            assert name in samples, f"{name} is not among regauth's metrics: {sorted(samples)}"
        used |= names
        labels = set().union(*(samples[n] for n in names)) | {"job", "le"}
        for label in re.findall(r"(\w+)=~?\"", expression) + re.findall(
            r"by \(([\w, ]+)\)", expression
        ):
            for name in label.split(","):
                assert name.strip() in labels, f"label {name!r} in {expression}"
        words = set(
            re.findall(r"\b[a-z_]+\b", re.sub(r"\"[^\"]*\"|\$\w+|\[[^]]*\]", "", expression))
        )
        assert words - names <= PROMQL_WORDS, expression
    # every metric regauth exposes has a panel
    suffix = r"_(total|bucket|sum|count|created)$"
    missing = {re.sub(suffix, "", n) for n in samples} - {re.sub(suffix, "", n) for n in used}
    assert not missing, f"add a panel to deploy/grafana-dashboard.json for {sorted(missing)}"
