"""Paging and sorting of the console's tables, from ``?sort=``, ``?order=`` and ``?page=``.

:func:`table` sorts a list by one of the columns a page allows and cuts out one page; the
``table_head`` and ``pager`` macros in ``templates/macros.html`` render the sort links and the
page links from the :class:`Table` it returns, keeping the page's other query parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

__all__ = ["PAGE_SIZE", "Table", "database_table", "requested_order", "table"]

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass(frozen=True)
class Table(Generic[T]):
    rows: Sequence[T]
    total: int
    page: int
    pages: int
    sort: str
    descending: bool
    #: the request's other query parameters, kept by the sort and page links
    query: Mapping[str, str]

    def link(self, **changes: Any) -> str:
        params = {**self.query, "sort": self.sort, "order": "desc" if self.descending else "asc"}
        params["page"] = str(self.page)
        params.update({k: str(v) for k, v in changes.items()})
        return "?" + urlencode(params)

    def sort_link(self, column: str) -> str:
        descending = not self.descending if column == self.sort else False
        return self.link(sort=column, order="desc" if descending else "asc", page=1)

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def _sort_value(value: Any) -> tuple[int, Any]:
    # None sorts last; strings without regard to case
    if value is None:
        return (1, "")
    if isinstance(value, str):
        return (0, value.casefold())
    return (0, value)


def table(
    items: Sequence[T],
    query: Mapping[str, str],
    columns: Mapping[str, Callable[[T], Any]],
    *,
    default: str,
    descending: bool = False,
    page_size: int = PAGE_SIZE,
) -> Table[T]:
    sort = query.get("sort", default)
    if sort not in columns:
        sort = default
    order = query.get("order")
    desc = descending if order not in ("asc", "desc") else order == "desc"
    key = columns[sort]
    ordered = sorted(items, key=lambda item: _sort_value(key(item)), reverse=desc)
    total = len(ordered)
    pages = max(1, -(-total // page_size))
    try:
        page = int(query.get("page", "1"))
    except ValueError:
        page = 1
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    rest = {k: v for k, v in query.items() if k not in ("sort", "order", "page")}
    return Table(ordered[start : start + page_size], total, page, pages, sort, desc, rest)


def requested_order(
    query: Mapping[str, str],
    allowed: Sequence[str],
    *,
    default: str,
    descending: bool = False,
) -> tuple[str, bool, int]:
    """The sort column, direction and page a request asks for, for tables the database
    sorts and cuts (:func:`database_table`)."""
    sort = query.get("sort", default)
    if sort not in allowed:
        sort = default
    order = query.get("order")
    desc = descending if order not in ("asc", "desc") else order == "desc"
    try:
        page = max(int(query.get("page", "1")), 1)
    except ValueError:
        page = 1
    return sort, desc, page


def database_table(
    rows: Sequence[T],
    total: int,
    query: Mapping[str, str],
    *,
    sort: str,
    descending: bool,
    page: int,
    page_size: int = PAGE_SIZE,
) -> Table[T]:
    """A page the database cut out (``rows``, of ``total`` in all)."""
    pages = max(1, -(-total // page_size))
    rest = {k: v for k, v in query.items() if k not in ("sort", "order", "page")}
    return Table(rows, total, min(page, pages), pages, sort, descending, rest)
