"""Persistence: SQLAlchemy models, the database handle and its Alembic migrations."""

from regauth.store.database import Database, SchemaError, SchemaStatus

__all__ = ["Database", "SchemaError", "SchemaStatus"]
