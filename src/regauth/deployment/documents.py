"""YAML for people to read and ``kubectl`` to apply: no anchors, multi-line text as blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["dump_documents"]


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, _data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_documents(documents: Sequence[Any]) -> str:
    """Each document in turn, separated by ``---``."""
    return "---\n".join(
        yaml.dump(document, Dumper=_Dumper, sort_keys=False) for document in documents
    )
