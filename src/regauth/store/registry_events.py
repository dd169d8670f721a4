"""The tables of registry events: what the registry reported, and the repository index kept
from it in the same transaction.

* ``registry_events``: one row per event the registry sent (push, pull, delete, mount), unique
  by the registry's event id, so a redelivered event is acknowledged and not stored twice;
* ``registry_repositories``: per repository, the last push, pull and delete, and how many
  manifests were pushed and pulled (answers "what changed recently" without a registry crawl);
* ``registry_tags``: per tag, the digest it was last pushed with, when and by whom, and when it
  was last pulled.
"""

from __future__ import annotations

import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base, UtcDateTime

__all__ = ["RegistryEventRow", "RegistryRepository", "RegistryTag"]

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class RegistryEventRow(Base):
    __tablename__ = "registry_events"
    __table_args__ = (
        Index("ix_registry_events_repository_at", "repository", "at"),
        Index("ix_registry_events_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    #: the registry's id of the event (unique: redeliveries are not stored twice)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    #: push, pull, delete, mount
    action: Mapped[str] = mapped_column(String(8))
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(256), index=True)
    media_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    #: the repository a mounted blob came from
    from_repository: Mapped[str | None] = mapped_column(String(255))
    #: the token subject; None for anonymous
    actor: Mapped[str | None] = mapped_column(String(256))
    client_addr: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    #: the registry node (its address) and its run (instance id)
    source: Mapped[str | None] = mapped_column(String(255))
    instance_id: Mapped[str | None] = mapped_column(String(128))


class RegistryRepository(Base):
    __tablename__ = "registry_repositories"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_push_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    last_pull_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    last_delete_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    #: the latest of the three: the index's "recently changed" order
    last_event_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    #: manifest pushes and pulls kept (blobs are not counted)
    pushes: Mapped[int] = mapped_column(BigInteger, default=0)
    pulls: Mapped[int] = mapped_column(BigInteger, default=0)


class RegistryTag(Base):
    __tablename__ = "registry_tags"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(256))
    pushed_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    pushed_by: Mapped[str | None] = mapped_column(String(256))
    pulled_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
