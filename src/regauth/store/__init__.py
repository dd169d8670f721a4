"""Persistence: SQLAlchemy models, the database handle and its Alembic migrations."""

# tables defined outside models.py register with Base.metadata when the package loads
from regauth.store import console_sessions as _console_sessions  # noqa: F401
from regauth.store import device_authorizations as _device_authorizations  # noqa: F401
from regauth.store import robot_federations as _robot_federations  # noqa: F401
from regauth.store import user_labels as _user_labels  # noqa: F401
from regauth.store.database import Database, SchemaError, SchemaStatus

__all__ = ["Database", "SchemaError", "SchemaStatus"]
