"""A tenant's queued-byte quota: the bytes of the definitions of its unfinished workflows
(`max_queued_bytes`, 0: the default).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenant_limits",
        sa.Column("max_queued_bytes", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("tenant_limits", "max_queued_bytes")
