"""Group memberships remember their source, so a directory or identity provider that drops a
user from a group removes exactly the membership it made.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("group_members") as batch:
        batch.add_column(sa.Column("source", sa.String(64), nullable=False, server_default="local"))
    # memberships in groups that an external source created came from that source
    op.execute(
        "UPDATE group_members SET source = (SELECT groups.source FROM groups "
        "WHERE groups.id = group_members.group_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("group_members") as batch:
        batch.drop_column("source")
