"""Parsed query strings, remembered: clients ask again and again with the same query (a CI
farm pulling the same images), and parsing one (fields, scopes, names) costs more than the
rest of a remembered answer. A query is remembered the second time it is seen
(:class:`regauth.admission.SecondSight`), only short ones, bounded; errors never.

This serves the requests that cannot reuse a whole grant (tokens and robots, which are checked
every time) and the second sight of every request."""

from __future__ import annotations

from regauth.admission import SecondSight
from regauth.protocol.request import QueryParameters, parse_query

__all__ = ["QueryCache"]

#: longer query strings are parsed every time, so the memory stays small
CACHED_QUERY_LENGTH = 512


class QueryCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, QueryParameters] = {}
        self._seen = SecondSight(4 * max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, query_string: str) -> QueryParameters:
        found = self._entries.get(query_string)
        if found is not None:
            return found
        parsed = parse_query(query_string)
        if len(query_string) <= CACHED_QUERY_LENGTH and self._seen.admit(query_string):
            entries = self._entries
            if len(entries) >= self._max_entries:
                del entries[next(iter(entries))]
            entries[query_string] = parsed
        return parsed
