"""Labels of database users, as docker_auth's static users have them (``group: [dev]``).

* ``user_labels``: one row per (user, key, value), in the order given.

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_labels"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_user_labels_user_id_users",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("user_id", "key", "value", name="uq_user_labels_value"),
    )
    op.create_index("ix_user_labels_user_id", "user_labels", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_labels_user_id", table_name="user_labels")
    op.drop_table("user_labels")
