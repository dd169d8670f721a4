"""Credentials: robot accounts (with their own grants), personal access tokens, refresh tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from regauth.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "robots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("expires_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("last_used_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_robots"),
        sa.UniqueConstraint("name", name="uq_robots_name"),
        sa.UniqueConstraint("secret_hash", name="uq_robots_secret_hash"),
    )
    # grants gain a robot subject; SQLite rebuilds the table (batch mode) to change the check
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("robot_id", sa.Integer))
        batch.create_foreign_key(
            "fk_grants_robot_id_robots", "robots", ["robot_id"], ["id"], ondelete="CASCADE"
        )
        batch.drop_constraint(op.f("ck_grants_one_subject"), type_="check")
        batch.create_check_constraint(
            "one_subject",
            "(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN group_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN robot_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN public THEN 1 ELSE 0 END) = 1",
        )
        batch.create_index("ix_grants_robot_id", ["robot_id"])
    op.create_table(
        "personal_access_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(32), nullable=False),
        sa.Column("repositories", sa.Text),
        sa.Column("actions", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("last_used_at", UtcDateTime),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name="fk_personal_access_tokens_user_id_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_personal_access_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_personal_access_tokens_token_hash"),
    )
    op.create_index("ix_personal_access_tokens_user_id", "personal_access_tokens", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("client_id", sa.String(128)),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_used_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_refresh_tokens_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("personal_access_tokens")
    with op.batch_alter_table("grants") as batch:
        batch.drop_index("ix_grants_robot_id")
        batch.drop_constraint(op.f("ck_grants_one_subject"), type_="check")
        batch.drop_constraint("fk_grants_robot_id_robots", type_="foreignkey")
        batch.drop_column("robot_id")
        batch.create_check_constraint(
            "one_subject",
            "(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN group_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN public THEN 1 ELSE 0 END) = 1",
        )
    op.drop_table("robots")
