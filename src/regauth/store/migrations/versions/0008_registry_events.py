"""Registry events: what the registry reported (push, pull, delete, mount), and the repository
index kept from them.

* ``registry_events``: one row per event, unique by the registry's event id;
* ``registry_repositories``: per repository, the last push, pull and delete, manifest counts;
* ``registry_tags``: per tag, its last pushed digest, when and by whom, and its last pull.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(128), nullable=True),
        sa.Column("digest", sa.String(256), nullable=True),
        sa.Column("media_type", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("from_repository", sa.String(255), nullable=True),
        sa.Column("actor", sa.String(256), nullable=True),
        sa.Column("client_addr", sa.String(255), nullable=True),
        sa.Column("user_agent", sa.String(256), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("instance_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registry_events"),
        sa.UniqueConstraint("event_id", name="uq_registry_events_event_id"),
    )
    op.create_index("ix_registry_events_at", "registry_events", ["at"])
    op.create_index("ix_registry_events_digest", "registry_events", ["digest"])
    op.create_index("ix_registry_events_repository_at", "registry_events", ["repository", "at"])
    op.create_index("ix_registry_events_actor_at", "registry_events", ["actor", "at"])
    op.create_table(
        "registry_repositories",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("last_push_at", UTC, nullable=True),
        sa.Column("last_pull_at", UTC, nullable=True),
        sa.Column("last_delete_at", UTC, nullable=True),
        sa.Column("last_event_at", UTC, nullable=False),
        sa.Column("pushes", sa.BigInteger, nullable=False),
        sa.Column("pulls", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_registry_repositories"),
    )
    op.create_index(
        "ix_registry_repositories_last_event_at", "registry_repositories", ["last_event_at"]
    )
    op.create_table(
        "registry_tags",
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(256), nullable=True),
        sa.Column("pushed_at", UTC, nullable=True),
        sa.Column("pushed_by", sa.String(256), nullable=True),
        sa.Column("pulled_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("repository", "tag", name="pk_registry_tags"),
    )


def downgrade() -> None:
    op.drop_table("registry_tags")
    op.drop_index("ix_registry_repositories_last_event_at", table_name="registry_repositories")
    op.drop_table("registry_repositories")
    op.drop_index("ix_registry_events_actor_at", table_name="registry_events")
    op.drop_index("ix_registry_events_repository_at", table_name="registry_events")
    op.drop_index("ix_registry_events_digest", table_name="registry_events")
    op.drop_index("ix_registry_events_at", table_name="registry_events")
    op.drop_table("registry_events")
