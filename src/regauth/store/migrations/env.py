"""Alembic environment: migrations always run on a connection regauth hands in."""

from __future__ import annotations

from alembic import context

from regauth.store.models import Base
from regauth.store.registry_events import RegistryEventRow  # noqa: F401 - its tables are in Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - regauth always passes a connection
    raise RuntimeError("run migrations with `regauth db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
