"""Recurring workflows: the schedules table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("request_id", sa.Text, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("cron", sa.Text, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False, server_default=""),
        sa.Column("workflow", sa.LargeBinary, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("schedules_create_time", "schedules", ["create_time", "id"])


def downgrade() -> None:
    op.drop_table("schedules")
