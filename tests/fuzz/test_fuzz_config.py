"""Property tests over the configuration loader: any YAML document, any value under any key,
and any environment override give a :class:`Config` or a :class:`ConfigError` whose lines
name keys; never another exception.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from regauth.config import Config, ConfigError, load_config, parse_config
from tests.fuzz.support import count, fuzz

BOUND = 2.0


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the configuration, dotted (``token.expiration``), from the models."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", None) or (annotation,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys.extend(_keys(candidate, f"{prefix}{name}."))
    return keys


KEYS = _keys(Config)
SECTIONS = sorted({key.split(".")[0] for key in KEYS})

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "14d",
            "99999999999d",
            "-1",
            "1e300",
            ".inf",
            "0",
            "127.0.0.1:5001",
            ":99999",
            "10.0.0.0/40",
            "/nonexistent/file",
            "ES256",
            "RS256",
            "${account}",
            "/[/",
            "*",
            "http://x",
            "ldap://x",
            "sqlite:///:memory:",
            "0.0.0.0/0",
            "X-Forwarded-For",
        ]
    ),
)
value = st.recursive(
    scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), children, max_size=4
        ),
    ),
    max_leaves=12,
)


def _nest(dotted: str, leaf: Any) -> dict[str, Any]:
    node: Any = leaf
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return dict(node)


def _merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    for key, item in other.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item)
        else:
            into[key] = item
    return into


def _reduce(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for dotted, leaf in pairs:
        _merge(merged, _nest(dotted, leaf))
    return merged


#: documents with real keys holding random values, and anything at all
document = st.one_of(
    st.lists(st.tuples(st.sampled_from(KEYS), value), max_size=6).map(_reduce),
    st.dictionaries(st.sampled_from(SECTIONS), value, max_size=4),
    value,
)


environ = st.dictionaries(
    st.builds(
        lambda key: "REGAUTH_" + key.upper().replace(".", "__"),
        st.sampled_from([k for k in KEYS if "." in k]),
    ),
    st.one_of(st.text(max_size=20), st.sampled_from(["[1, 2", "{a: b}", "[]", "99999999999d"])),
    max_size=3,
)


def check(raw: Any, env: dict[str, str]) -> None:
    started = time.perf_counter()
    try:
        config = parse_config(raw, environ=env)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert ": " in problem and "\n" not in problem
            assert "Traceback" not in problem
    else:
        assert isinstance(config, Config)
    assert time.perf_counter() - started < BOUND


@fuzz("configuration")
@given(document, environ)
def test_configuration_documents(raw: Any, env: dict[str, str]) -> None:
    count()
    check(raw, env)


yaml_text = st.one_of(
    document.map(lambda raw: yaml.safe_dump(raw, allow_unicode=True)),
    st.text(max_size=300),
    st.builds(
        lambda raw, cut: yaml.safe_dump(raw)[:cut],
        document,
        st.integers(0, 200),
    ),
    st.sampled_from(
        [
            "token: [",
            "a: &x [*x]",
            "key: !!python/object:os.system x",
            "{a: 1, a: 2}",
            "- - - -",
            "\ufeffserver: {}",
            "token: {expiration: 1e400}",
            "? [a]\n: 1",
        ]
    ),
)


@fuzz("configuration_yaml")
@given(yaml_text)
def test_configuration_files(text: str) -> None:
    count()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "regauth.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        started = time.perf_counter()
        try:
            config = load_config(path, environ={})
        except ConfigError as exc:
            assert exc.problems and all("\n" not in p for p in exc.problems)
        else:
            assert isinstance(config, Config)
        assert time.perf_counter() - started < BOUND
