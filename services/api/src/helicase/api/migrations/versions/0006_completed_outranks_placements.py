"""Task positions gain a second element, 1 for a COMPLETED event: within one attempt a COMPLETED
result outranks every placement's events (a placement given up before may complete after its
task was placed again; the controller takes that result). Stored participant positions
(attempt, placement, rank, state) become (attempt, completed, placement, rank, state).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COMPLETED = 5  # helicase.v1.TaskState.TASK_STATE_COMPLETED


def upgrade() -> None:
    for table in ("tasks", "task_attempts"):
        op.execute(
            f"UPDATE {table} SET participant_pos = ARRAY[participant_pos[1], "
            f"(participant_pos[4] = {_COMPLETED})::int, participant_pos[2], participant_pos[3], "
            "participant_pos[4]] WHERE cardinality(participant_pos) = 4"
        )


def downgrade() -> None:
    for table in ("tasks", "task_attempts"):
        op.execute(
            f"UPDATE {table} SET participant_pos = ARRAY[participant_pos[1], participant_pos[3], "
            "participant_pos[4], participant_pos[5]] WHERE cardinality(participant_pos) = 5"
        )
