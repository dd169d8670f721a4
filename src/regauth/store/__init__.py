"""Persistence: SQLAlchemy models, the database handle and its Alembic migrations."""

from regauth.store import user_labels as _user_labels  # noqa: F401 - registers the table
from regauth.store.database import Database, SchemaError, SchemaStatus

__all__ = ["Database", "SchemaError", "SchemaStatus"]
