"""Grants for every signed-in user: ``grants.authenticated``, a fifth kind of subject.

A grant is for exactly one user, group or robot, for the public (anonymous pull), or now for
everyone who signed in (``regauth grant add --authenticated``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SUBJECTS = (
    "(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN group_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN robot_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN public THEN 1 ELSE 0 END)"
)


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(
            sa.Column("authenticated", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.drop_constraint(op.f("ck_grants_one_subject"), type_="check")
        batch.create_check_constraint(
            "one_subject", _SUBJECTS + " + (CASE WHEN authenticated THEN 1 ELSE 0 END) = 1"
        )


def downgrade() -> None:
    op.execute("DELETE FROM grants WHERE authenticated")
    with op.batch_alter_table("grants") as batch:
        batch.drop_constraint(op.f("ck_grants_one_subject"), type_="check")
        batch.drop_column("authenticated")
        batch.create_check_constraint("one_subject", _SUBJECTS + " = 1")
