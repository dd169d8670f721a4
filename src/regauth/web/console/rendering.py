"""Jinja2 templates for the console: autoescaped, with filters for times and sizes.

Every value a template shows is escaped by Jinja2's autoescape (templates end in ``.html``);
nothing is marked safe that came from a user, a directory or the registry. Times are shown in
UTC with a relative hint (``2026-12-04 09:12 UTC`` / "3 minutes ago").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["human_size", "make_environment", "relative_time", "utc_time"]


def utc_time(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(moment: datetime.datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds")


def relative_time(moment: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """ "3 minutes ago", "in 2 days": a hint beside the UTC time."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = (moment - now).total_seconds()
    future = seconds > 0
    seconds = abs(seconds)
    for size, unit in ((86400 * 365, "year"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        return "just now"
    return f"in {text}" if future else f"{text} ago"


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def make_environment(globals_: dict[str, Any] | None = None) -> Environment:
    environment = Environment(
        loader=PackageLoader("regauth.web.console", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Callable[..., str]] = {
        "utc": utc_time,
        "iso": iso_time,
        "relative": relative_time,
        "size": human_size,
    }
    environment.filters.update(filters)
    environment.globals.update(globals_ or {})
    return environment
