"""Fixtures of the console's in-process tests (see support.py)."""

from tests.console.support import browser_for, runtime

__all__ = ["browser_for", "runtime"]
