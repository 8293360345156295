"""Retention: the indexes the purge reads by (finished workflows by end time; relayed outbox
rows), built CONCURRENTLY so that a large table takes no write lock while they are made.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "workflows_finished",
            "workflows",
            ["end_time", "id"],
            postgresql_where=sa.text("end_time IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "outbox_published",
            "outbox",
            ["id"],
            postgresql_where=sa.text("published_at IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("outbox_published", "outbox", postgresql_concurrently=True)
        op.drop_index("workflows_finished", "workflows", postgresql_concurrently=True)
