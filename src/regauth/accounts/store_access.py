"""What every kind of account operation shares: the database and clock, lookups, the change log.

Each per-kind class (:class:`~regauth.accounts.users.Users`,
:class:`~regauth.accounts.groups.Groups`, ...) is a :class:`StoreAccess`. The lookups find a row
by its name or raise :class:`~regauth.accounts.errors.NotFound`; :func:`log_change` appends to
the change log in the caller's transaction, which makes every process and instance drop cached
credentials and reload grants.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from regauth.accounts.errors import NotFound
from regauth.clock import Clock, utcnow
from regauth.store.database import CHANGED, Database
from regauth.store.models import ChangeLog, Group, Robot, User

__all__ = ["StoreAccess", "find_group", "find_robot", "find_user", "log_change"]


class StoreAccess:
    """The database a kind of account operation reads and writes, and the clock it stamps with."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock


def log_change(session: Session, kind: str, subjects: Iterable[str] = ()) -> None:
    """Record a change of ``kind`` (user, group, grant, ...) to ``subjects`` in this transaction."""
    session.add(ChangeLog(kind=kind, subject=" ".join(subjects) or None, at=utcnow()))
    session.info[CHANGED] = True


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no such user: {username[:128]!r}")
    return user


def find_group(session: Session, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == name))
    if group is None:
        raise NotFound(f"no such group: {name[:128]!r}")
    return group


def find_robot(session: Session, name: str) -> Robot:
    robot = session.scalar(select(Robot).where(Robot.name == name))
    if robot is None:
        raise NotFound(f"no such robot: {name[:128]!r}")
    return robot
