"""SQL of ListParticipants: each participant's load as the recorded events tell it."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api.tables import tasks, workflows
from helicase.v1 import workflow_pb2

# A task holds a participant's slot while assigned to it or running on it.
HOLDING_STATES = (workflow_pb2.TASK_STATE_ASSIGNED, workflow_pb2.TASK_STATE_RUNNING)
# Only unfinished workflows have such tasks (the index on workflows.state finds them).
LIVE_WORKFLOW_STATES = (
    workflow_pb2.WORKFLOW_STATE_PENDING,
    workflow_pb2.WORKFLOW_STATE_RUNNING,
    workflow_pb2.WORKFLOW_STATE_CANCELING,
)


class ParticipantLoads:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def loads(self, names: Collection[str]) -> dict[str, int]:
        """Tasks held by each of `names` (absent names hold none)."""
        if not names:
            return {}
        query = (
            select(tasks.c.participant, func.count())
            .select_from(tasks.join(workflows, workflows.c.id == tasks.c.workflow_id))
            .where(
                workflows.c.state.in_(LIVE_WORKFLOW_STATES),
                tasks.c.state.in_(HOLDING_STATES),
                tasks.c.participant.in_(list(names)),
            )
            .group_by(tasks.c.participant)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {str(name): int(count) for name, count in rows}
