"""The ``user_labels`` table: docker_auth-style labels of database users.

A label is a key with one or more values (``group: [dev, ops]``); each value is one row, kept
in the order it was given. The authenticators hand them to the ACL rules as the identity's
labels, as static users' labels are (``${labels:group}``, ``match: {labels: ...}``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from regauth.store.models import Base

__all__ = ["Labels", "UserLabel", "labels_of", "labels_of_users", "replace_labels"]

#: label values of one user: key -> values, in the order they were given
Labels = dict[str, list[str]]


class UserLabel(Base):
    __tablename__ = "user_labels"
    __table_args__ = (UniqueConstraint("user_id", "key", "value", name="uq_user_labels_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(256))


def labels_of(session: Session, user_id: int) -> Labels:
    """One user's labels."""
    return labels_of_users(session, [user_id]).get(user_id, {})


def labels_of_users(session: Session, user_ids: Iterable[int] | None = None) -> dict[int, Labels]:
    """The labels of these users (None: of every user), by user id."""
    query = select(UserLabel.user_id, UserLabel.key, UserLabel.value).order_by(UserLabel.id)
    if user_ids is not None:
        query = query.where(UserLabel.user_id.in_(list(user_ids)))
    found: dict[int, Labels] = {}
    for user_id, key, value in session.execute(query):
        found.setdefault(user_id, {}).setdefault(key, []).append(value)
    return found


def replace_labels(session: Session, user_id: int, labels: Labels) -> None:
    """Make the user's labels exactly ``labels`` (checked by the caller)."""
    session.query(UserLabel).filter(UserLabel.user_id == user_id).delete()
    for key, values in labels.items():
        for value in dict.fromkeys(values):
            session.add(UserLabel(user_id=user_id, key=key, value=value))
