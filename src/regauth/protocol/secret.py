"""A string that must never be printed, logged or compared in variable time."""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """Wraps a secret value; ``str()``, ``repr()`` and f-strings show ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def encode(self) -> bytes:
        return self._value.encode("utf-8")

    def matches(self, other: str | bytes) -> bool:
        """Constant-time comparison with a candidate value."""
        candidate = other.encode("utf-8") if isinstance(other, str) else other
        return hmac.compare_digest(self.encode(), candidate)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self.encode(), other.encode())
        return NotImplemented
