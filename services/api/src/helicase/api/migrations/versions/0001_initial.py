"""The initial schema: workflows, tasks, task attempts, events and the outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from helicase.api.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
