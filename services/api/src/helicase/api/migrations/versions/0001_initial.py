"""The initial schema: workflows, tasks, task attempts, events and the outbox.

Spelled out rather than generated from helicase.api.tables, so that later edits of the tables
module never change what this revision did (new columns get a new revision).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("request_id", sa.Text, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("labels", postgresql.JSONB, nullable=False),
        sa.Column("definition", sa.LargeBinary, nullable=False),
        sa.Column("task_count", sa.Integer, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("start_time", _TIME),
        sa.Column("end_time", _TIME),
    )
    op.create_index(
        "workflows_create_time", "workflows", [sa.text("create_time DESC"), sa.text("id DESC")]
    )
    op.create_index("workflows_state", "workflows", ["state"])
    op.create_index("workflows_labels", "workflows", ["labels"], postgresql_using="gin")
    op.create_table(
        "tasks",
        sa.Column("workflow_id", sa.Uuid, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("instance_group", sa.Text, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("placement", sa.Integer, nullable=False, server_default="0"),
        sa.Column("participant", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "participant_pos", postgresql.ARRAY(sa.Integer), nullable=False, server_default="{}"
        ),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("outputs", postgresql.JSONB),
        sa.PrimaryKeyConstraint("workflow_id", "task_id"),
    )
    op.create_table(
        "task_attempts",
        sa.Column("workflow_id", sa.Uuid, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("placement", sa.Integer, nullable=False),
        sa.Column("participant", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "participant_pos", postgresql.ARRAY(sa.Integer), nullable=False, server_default="{}"
        ),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("start_time", _TIME),
        sa.Column("end_time", _TIME),
        sa.PrimaryKeyConstraint("workflow_id", "task_id", "attempt"),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("workflow_id", sa.Uuid, nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("events_workflow", "events", ["workflow_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", _TIME),
    )
    op.create_index(
        "outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )


def downgrade() -> None:
    for table in ("outbox", "events", "task_attempts", "tasks", "workflows"):
        op.drop_table(table)
