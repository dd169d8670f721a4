"""Armor: guessing limits, signing keys in the database, refresh tokens bound to a service.

* ``login_failures``: failed logins per (account, address), per account and per address,
  shared by every worker and instance;
* ``signing_keys``: token signing keys and their certificates, so every instance signs with
  the same key and a rotation reaches all of them;
* ``server_secrets``: random secrets made once (cookie signing keys), stable across key
  rotations;
* ``refresh_tokens.service``: the audience a refresh token was issued for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure_at", UTC, nullable=False),
        sa.Column("last_failure_at", UTC, nullable=False),
        sa.Column("blocked_until", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
        sa.UniqueConstraint("scope", "account", "address", name="uq_login_failures_key"),
        sa.CheckConstraint("scope IN ('pair', 'account', 'address')", name="scope"),
    )
    op.create_index("ix_login_failures_last_failure_at", "login_failures", ["last_failure_at"])
    op.create_index("ix_login_failures_blocked_until", "login_failures", ["blocked_until"])
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("libtrust_kid", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("activated_at", UTC, nullable=True),
        sa.Column("deactivated_at", UTC, nullable=True),
        sa.Column("retired_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signing_keys"),
        sa.CheckConstraint("state IN ('published', 'active', 'retired')", name="state"),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("service", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("service")
    op.drop_table("server_secrets")
    op.drop_table("signing_keys")
    op.drop_index("ix_login_failures_blocked_until", table_name="login_failures")
    op.drop_index("ix_login_failures_last_failure_at", table_name="login_failures")
    op.drop_table("login_failures")
