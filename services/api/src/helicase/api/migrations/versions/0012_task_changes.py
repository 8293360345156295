"""Tasks in pages and watched by change: each task row records the transaction that last changed
it (`change_xid`, set by the projection), and two indexes serve ListTasks (a workflow's tasks in
definition order) and WatchWorkflow (a workflow's tasks changed since a snapshot).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tasks ADD COLUMN change_xid xid8")
    op.create_index("tasks_workflow_ordinal", "tasks", ["workflow_id", "ordinal"], unique=True)
    op.create_index("tasks_workflow_change", "tasks", ["workflow_id", "change_xid"])


def downgrade() -> None:
    op.drop_index("tasks_workflow_change", "tasks")
    op.drop_index("tasks_workflow_ordinal", "tasks")
    op.drop_column("tasks", "change_xid")
