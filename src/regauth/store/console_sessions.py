"""Sign-in sessions, stored server side so they can be listed and ended: the web console's
(``kind`` browser) and those a device sign-in gives a machine (``kind`` device, RFC 8628).

The browser or machine holds only a random secret (``regauth_cs_...`` / ``regauth_ds_...``);
the row holds its SHA-256. A session
of a database user (local, LDAP or single sign-on) points at the user's row and goes with it; a
session of an account from the configuration or the htpasswd file keeps a fingerprint of that
account's password hash, so changing or removing the account ends it.
"""

from __future__ import annotations

import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regauth.clock import utcnow
from regauth.store.models import Base, UtcDateTime

__all__ = ["ConsoleSession"]


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    __table_args__ = (CheckConstraint("kind IN ('browser', 'device')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: browser (the web console) or device (a machine signed in with the device flow)
    kind: Mapped[str] = mapped_column(String(16), default="browser")
    #: the name a device gave itself (its host name), shown when approving and listing
    client_name: Mapped[str | None] = mapped_column(String(128))
    #: the user's row; NULL for accounts from the configuration or the htpasswd file
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(256), index=True)
    #: how the person signed in: static, htpasswd, database, ldap, oidc:<provider>
    method: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the password hash of an account without a row (static, htpasswd)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    #: JSON: labels and groups the authenticator gave at sign-in
    identity: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(256))
    address: Mapped[str | None] = mapped_column(String(64))
