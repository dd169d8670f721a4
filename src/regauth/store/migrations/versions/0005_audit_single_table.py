"""Audit trail: one row per token decision, its scopes inline.

The scopes move from their own table into two columns of ``audit_events``: ``scopes`` (a JSON
list of ``[type, name, requested, granted, decided by]``) and ``repositories`` (the names,
space-delimited with a space at each end, for the repository filter). The rarely used index on
``outcome`` goes too. Storing a token's audit record now writes one row and two index entries
instead of two rows and five index entries.

The encoding is written out here rather than imported, so this migration keeps doing what it
did whatever later code does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
PAGE = 1000


def _scopes_by_event(bind: sa.Connection) -> Iterator[dict[int, list[list[Any]]]]:
    """The old scope rows, a page of events at a time, each event's scopes in their order."""
    last = 0
    while True:
        ids = [
            row[0]
            for row in bind.execute(
                sa.text(
                    "SELECT DISTINCT event_id FROM audit_scopes WHERE event_id > :last "
                    "ORDER BY event_id LIMIT :page"
                ),
                {"last": last, "page": PAGE},
            )
        ]
        if not ids:
            return
        page: dict[int, list[list[Any]]] = {}
        for event_id, kind, name, requested, granted, rule in bind.execute(
            sa.text(
                "SELECT event_id, type, name, requested, granted, decided_by FROM audit_scopes "
                "WHERE event_id >= :first AND event_id <= :last ORDER BY event_id, id"
            ),
            {"first": ids[0], "last": ids[-1]},
        ):
            page.setdefault(event_id, []).append([kind, name, requested, granted, rule])
        yield page
        last = ids[-1]


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("scopes", sa.Text))
    op.add_column("audit_events", sa.Column("repositories", sa.Text))
    bind = op.get_bind()
    update = sa.text(
        "UPDATE audit_events SET scopes = :scopes, repositories = :names WHERE id = :id"
    )
    for page in _scopes_by_event(bind):
        bind.execute(
            update,
            [
                {
                    "id": event_id,
                    "scopes": json.dumps(scopes, separators=(",", ":")),
                    "names": " " + " ".join(dict.fromkeys(s[1] for s in scopes)) + " ",
                }
                for event_id, scopes in page.items()
            ],
        )
    op.drop_table("audit_scopes")
    op.drop_index("ix_audit_events_outcome", table_name="audit_events")


def _scope_columns() -> list[sa.Column[Any]]:
    """The columns of 0003's audit_scopes table (new objects each time: a Column belongs to
    one table)."""
    return [
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("requested", sa.String(128), nullable=False),
        sa.Column("granted", sa.String(128), nullable=False),
        sa.Column("decided_by", sa.String(256)),
    ]


def downgrade() -> None:
    # The scopes go to a holding table first: on SQLite dropping the columns rebuilds
    # audit_events, and that DROP TABLE would cascade into an audit_scopes with its foreign key.
    bind = op.get_bind()
    holding = sa.Table("audit_scopes_downgrade", sa.MetaData(), *_scope_columns())
    holding.create(bind)
    last = 0
    while True:
        events = bind.execute(
            sa.text(
                "SELECT id, scopes FROM audit_events WHERE id > :last AND scopes IS NOT NULL "
                "ORDER BY id LIMIT :page"
            ),
            {"last": last, "page": PAGE},
        ).all()
        if not events:
            break
        scope_rows = [
            {
                "event_id": event_id,
                "type": kind,
                "name": name,
                "requested": requested,
                "granted": granted,
                "decided_by": rule,
            }
            for event_id, stored in events
            for kind, name, requested, granted, rule in json.loads(stored)
        ]
        if scope_rows:
            bind.execute(holding.insert(), scope_rows)
        last = events[-1][0]
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("repositories")
        batch.drop_column("scopes")
    op.create_index("ix_audit_events_outcome", "audit_events", ["outcome"])
    op.create_table(
        "audit_scopes",
        *_scope_columns(),
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
    op.execute(
        "INSERT INTO audit_scopes (event_id, type, name, requested, granted, decided_by) "
        "SELECT event_id, type, name, requested, granted, decided_by "
        "FROM audit_scopes_downgrade ORDER BY id"
    )
    holding.drop(bind)
