"""What an import could not carry over: one note per setting, naming it and what to do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Note", "Notes"]


@dataclass(frozen=True)
class Note:
    #: the setting in the source file (``server.letsencrypt``, ``mongo_auth``)
    key: str
    #: what regauth does instead, or what the user should do
    what: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "what": self.what}


class Notes:
    def __init__(self) -> None:
        self.items: list[Note] = []

    def add(self, key: str, what: str) -> None:
        self.items.append(Note(key, what))

    def unknown(self, section: str, given: dict[str, Any], known: Iterable[str]) -> None:
        """A note for each key of ``given`` that the section does not know."""
        for key in given:
            if key not in set(known):
                self.add(f"{section}.{key}", "not a setting regauth knows here; left out")
