"""The outbox carries the W3C trace context of the request that wrote each row.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_context", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "trace_context")
