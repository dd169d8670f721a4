"""Federated robots: the OIDC issuer, audience and claim conditions a robot trusts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "robot_federations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.Integer, nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("audience", sa.String(500), nullable=True),
        sa.Column("claims", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_robot_federations"),
        sa.UniqueConstraint("robot_id", name="uq_robot_federations_robot_id"),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["robots.id"],
            name="fk_robot_federations_robot_id_robots",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("robot_federations")
