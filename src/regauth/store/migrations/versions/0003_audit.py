"""Audit trail: one row per token decision and one per scope in it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from regauth.store.models import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("user_agent", sa.String(256)),
        sa.Column("account", sa.String(256)),
        sa.Column("method", sa.String(64)),
        sa.Column("grant_type", sa.String(32)),
        sa.Column("service", sa.String(256)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("latency_ms", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_outcome", "audit_events", ["outcome"])
    op.create_index("ix_audit_events_account_at", "audit_events", ["account", "at"])
    op.create_table(
        "audit_scopes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("requested", sa.String(128), nullable=False),
        sa.Column("granted", sa.String(128), nullable=False),
        sa.Column("decided_by", sa.String(256)),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            ondelete="CASCADE",
            name="fk_audit_scopes_event_id_audit_events",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_scopes"),
    )
    op.create_index("ix_audit_scopes_event_id", "audit_scopes", ["event_id"])
    op.create_index("ix_audit_scopes_name", "audit_scopes", ["name"])


def downgrade() -> None:
    op.drop_table("audit_scopes")
    op.drop_table("audit_events")
