"""Registry events: what the registry reports it did (push, pull, delete, mount), received,
kept and queried.

:class:`EventIngest` stores the events of one notification (one transaction, redeliveries
skipped, pulls kept as ``events.record_pulls`` says, old events pruned after
``events.retention_days``); :func:`query_events` answers the CLI, the admin API and the
console with the same filters; :func:`list_repositories`, :func:`get_repository` and
:func:`summaries` read the repository index kept beside the events.
"""

from regauth.activity.ingest import EventIngest, IngestResult
from regauth.activity.queries import EventFilter, EventPage, query_events
from regauth.activity.repositories import (
    RepositoryFilter,
    RepositoryPage,
    get_repository,
    list_repositories,
    summaries,
)

__all__ = [
    "EventFilter",
    "EventIngest",
    "EventPage",
    "IngestResult",
    "RepositoryFilter",
    "RepositoryPage",
    "get_repository",
    "list_repositories",
    "query_events",
    "summaries",
]
