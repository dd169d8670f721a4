"""The house rules of ``src/regauth`` (docs/architecture.md), checked on the source itself:
imports run only downward between packages, no module imports itself in a circle, the
front ends keep away from the store, and no module needs scrolling through a thousand lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "regauth"

#: every top-level package or module of regauth, on the floor it lives on; a package may import
#: only from packages on lower floors (and from itself). docs/architecture.md draws the same.
FLOORS: dict[str, int] = {
    "protocol": 0,
    "clock": 0,
    "timestamps": 0,
    "admission": 0,
    "durations": 0,
    "patterns": 1,
    "credentials": 1,
    "keys": 1,
    "metrics": 1,
    "config": 2,
    "store": 3,
    "datadir": 3,
    "registry_config": 3,
    "accounts": 4,
    "deployment": 4,
    "backup": 4,
    "audit": 4,
    "admin_auth": 4,
    "sync": 4,
    "activity": 4,
    "oidc": 5,
    "importers": 5,
    "keyring": 5,
    "defaults": 5,
    "authn": 6,
    "authz": 7,
    "service": 8,
    "events": 9,
    "runtime": 10,
    "explain": 11,
    "web": 12,
    "supervisor": 13,
    "serve": 14,
    "cli": 15,
    "credential_helper": 15,
    "__main__": 16,
}
FRONT_ENDS = ("web", "cli", "serve", "supervisor")
#: the one front-end module that works on the store directly: `regauth db`
STORE_COMMANDS = "regauth.cli.database"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in SOURCE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every regauth module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("regauth"):
                names.add(node.module)
                for alias in node.names:  # `from regauth.x import module`
                    if f"{node.module}.{alias.name}" in MODULES:
                        names.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("regauth"))
    return names


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "regauth"


def test_every_package_has_a_floor() -> None:
    units = {_unit(m) for m in MODULES} - {"regauth"}
    assert units <= set(FLOORS), f"give these a floor: {sorted(units - set(FLOORS))}"


def test_imports_run_only_downward() -> None:
    upward = []
    for module, imported in IMPORTS.items():
        source = _unit(module)
        for target in imported:
            unit = _unit(target)
            if unit in (source, "regauth") or source == "regauth":
                continue
            if FLOORS[unit] >= FLOORS[source]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run up or sideways:\n" + "\n".join(sorted(upward))


def test_protocol_imports_nothing_of_ours() -> None:
    for module, imported in IMPORTS.items():
        if _unit(module) == "protocol":
            assert all(_unit(t) == "protocol" for t in imported), module


def test_core_never_imports_a_front_end() -> None:
    for module, imported in IMPORTS.items():
        if _unit(module) in ("authn", "authz", "store", "accounts", "protocol"):
            assert not any(_unit(t) in FRONT_ENDS for t in imported), module


def test_front_ends_keep_away_from_the_store() -> None:
    offenders = [
        f"{module} -> {target}"
        for module, imported in IMPORTS.items()
        if _unit(module) in FRONT_ENDS and module != STORE_COMMANDS
        for target in imported
        if _unit(target) == "store"
    ]
    assert not offenders, "\n".join(offenders)


def test_no_module_imports_itself_in_a_circle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in IMPORTS.items():
        for target in imported:
            # importing a package's name means its __init__; a submodule means itself
            if target in MODULES and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    state: dict[str, int] = {}
    circle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                circle.extend([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for start in list(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert not circle, "import circle: " + " -> ".join(circle)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concept"
