"""Device sign-in requests (RFC 8628): a machine asked, a person approves or denies.

Both codes are stored only as SHA-256 hashes: the device code (high entropy, the machine's
secret while it polls) and the user code (short, typed by a person; upper-cased and without
the dash before hashing). An approval records who approved, so the machine's session can be
made for them when it next polls.
"""

from __future__ import annotations

import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regauth.clock import utcnow
from regauth.store.models import Base, UtcDateTime

__all__ = ["DeviceAuthorization"]


class DeviceAuthorization(Base):
    __tablename__ = "device_authorizations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied', 'consumed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(128))
    #: what the machine calls itself (its host name), shown to the person approving
    client_name: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    #: seconds the machine must wait between polls (raised by each slow_down)
    interval: Mapped[int] = mapped_column(Integer)
    last_poll_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    #: who approved: the user's row (if any), name, how they signed in, and what the
    #: session needs (password fingerprint for accounts without a row; labels and groups)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    username: Mapped[str | None] = mapped_column(String(256))
    method: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    identity: Mapped[str | None] = mapped_column(Text)
