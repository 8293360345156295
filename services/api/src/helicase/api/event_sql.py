"""The SQL of RecordEvents with a fixed shape: every batch passes its rows as arrays to
`unnest(...)`, so each statement's text is the same whatever the batch size. SQLAlchemy compiles
it once, psycopg parses it once and PostgreSQL can prepare it (a multi-row VALUES or an IN list
is a new statement for every batch size, and compiling those was most of the api's CPU).

Per-row arrays (a task's `participant_pos`) and JSON travel as text and are cast back per row:
`unnest` of a two-dimensional array would flatten it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from helicase.api import projection

INSERT_EVENTS = text(
    """
    INSERT INTO events (event_id, workflow_id, time, source, payload)
    SELECT * FROM unnest(
        CAST(:ids AS text[]), CAST(:workflow_ids AS uuid[]), CAST(:times AS timestamptz[]),
        CAST(:sources AS text[]), CAST(:payloads AS bytea[]))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)

LOCK_WORKFLOWS = text(
    """
    SELECT id, state, message, start_time, end_time FROM workflows
    WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE
    """
)

LOCK_TASKS = text(
    """
    SELECT t.workflow_id, t.task_id, t.state, t.attempt, t.placement, t.participant,
           t.participant_pos, t.message, t.outputs
    FROM tasks t
    JOIN unnest(CAST(:workflow_ids AS uuid[]), CAST(:task_ids AS text[])) AS k(w, t_id)
      ON t.workflow_id = k.w AND t.task_id = k.t_id
    ORDER BY t.workflow_id, t.task_id
    FOR UPDATE OF t
    """
)

LOCK_ATTEMPTS = text(
    """
    SELECT a.workflow_id, a.task_id, a.attempt, a.state, a.placement, a.participant,
           a.participant_pos, a.message, a.start_time, a.end_time
    FROM task_attempts a
    JOIN unnest(CAST(:workflow_ids AS uuid[]), CAST(:task_ids AS text[]),
                CAST(:attempts AS int[])) AS k(w, t_id, n)
      ON a.workflow_id = k.w AND a.task_id = k.t_id AND a.attempt = k.n
    ORDER BY a.workflow_id, a.task_id, a.attempt
    FOR UPDATE OF a
    """
)

UPDATE_TASKS = text(
    """
    UPDATE tasks t SET state = u.state, attempt = u.attempt, placement = u.placement,
        participant = u.participant, participant_pos = CAST(u.pos AS int[]),
        message = u.message, outputs = CAST(u.outputs AS jsonb)
    FROM unnest(
        CAST(:workflow_ids AS uuid[]), CAST(:task_ids AS text[]), CAST(:states AS int[]),
        CAST(:attempts AS int[]), CAST(:placements AS int[]), CAST(:participants AS text[]),
        CAST(:positions AS text[]), CAST(:messages AS text[]), CAST(:outputs AS text[])
    ) AS u(workflow_id, task_id, state, attempt, placement, participant, pos, message, outputs)
    WHERE t.workflow_id = u.workflow_id AND t.task_id = u.task_id
    """
)

UPSERT_ATTEMPTS = text(
    """
    INSERT INTO task_attempts (workflow_id, task_id, attempt, state, placement, participant,
                               participant_pos, message, start_time, end_time)
    SELECT u.workflow_id, u.task_id, u.attempt, u.state, u.placement, u.participant,
           CAST(u.pos AS int[]), u.message, u.start_time, u.end_time
    FROM unnest(
        CAST(:workflow_ids AS uuid[]), CAST(:task_ids AS text[]), CAST(:attempts AS int[]),
        CAST(:states AS int[]), CAST(:placements AS int[]), CAST(:participants AS text[]),
        CAST(:positions AS text[]), CAST(:messages AS text[]),
        CAST(:start_times AS timestamptz[]), CAST(:end_times AS timestamptz[])
    ) AS u(workflow_id, task_id, attempt, state, placement, participant, pos, message,
           start_time, end_time)
    ON CONFLICT (workflow_id, task_id, attempt) DO UPDATE SET
        state = excluded.state, placement = excluded.placement,
        participant = excluded.participant, participant_pos = excluded.participant_pos,
        message = excluded.message, start_time = excluded.start_time,
        end_time = excluded.end_time
    """
)


def _pos(values: Sequence[int]) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


async def insert_events(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Inserts the event rows that are new; returns their ids."""
    result = await conn.execute(
        INSERT_EVENTS,
        {
            "ids": [r["event_id"] for r in rows],
            "workflow_ids": [r["workflow_id"] for r in rows],
            "times": [r["time"] for r in rows],
            "sources": [r["source"] for r in rows],
            "payloads": [r["payload"] for r in rows],
        },
    )
    return [event_id for (event_id,) in result]


async def lock_workflows(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    result = await conn.execute(LOCK_WORKFLOWS, {"ids": list(ids)})
    return {row.id: row for row in result}


async def lock_tasks(
    conn: AsyncConnection, keys: Sequence[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], projection.TaskRow]:
    result = await conn.execute(
        LOCK_TASKS, {"workflow_ids": [k[0] for k in keys], "task_ids": [k[1] for k in keys]}
    )
    return {
        (r.workflow_id, r.task_id): projection.TaskRow(
            state=r.state,
            attempt=r.attempt,
            placement=r.placement,
            participant=r.participant,
            participant_pos=tuple(r.participant_pos),
            message=r.message,
            outputs=r.outputs,
        )
        for r in result
    }


async def lock_attempts(
    conn: AsyncConnection, keys: Sequence[tuple[uuid.UUID, str, int]]
) -> dict[tuple[uuid.UUID, str, int], projection.AttemptRow]:
    result = await conn.execute(
        LOCK_ATTEMPTS,
        {
            "workflow_ids": [k[0] for k in keys],
            "task_ids": [k[1] for k in keys],
            "attempts": [k[2] for k in keys],
        },
    )
    return {
        (r.workflow_id, r.task_id, r.attempt): projection.AttemptRow(
            state=r.state,
            placement=r.placement,
            participant=r.participant,
            participant_pos=tuple(r.participant_pos),
            message=r.message,
            start_time=r.start_time,
            end_time=r.end_time,
        )
        for r in result
    }


async def update_tasks(
    conn: AsyncConnection, rows: Sequence[tuple[tuple[uuid.UUID, str], projection.TaskRow]]
) -> None:
    await conn.execute(
        UPDATE_TASKS,
        {
            "workflow_ids": [k[0] for k, _ in rows],
            "task_ids": [k[1] for k, _ in rows],
            "states": [r.state for _, r in rows],
            "attempts": [r.attempt for _, r in rows],
            "placements": [r.placement for _, r in rows],
            "participants": [r.participant for _, r in rows],
            "positions": [_pos(r.participant_pos) for _, r in rows],
            "messages": [r.message for _, r in rows],
            "outputs": [None if r.outputs is None else json.dumps(r.outputs) for _, r in rows],
        },
    )


async def upsert_attempts(
    conn: AsyncConnection,
    rows: Sequence[tuple[tuple[uuid.UUID, str, int], projection.AttemptRow]],
) -> None:
    await conn.execute(
        UPSERT_ATTEMPTS,
        {
            "workflow_ids": [k[0] for k, _ in rows],
            "task_ids": [k[1] for k, _ in rows],
            "attempts": [k[2] for k, _ in rows],
            "states": [r.state for _, r in rows],
            "placements": [r.placement for _, r in rows],
            "participants": [r.participant for _, r in rows],
            "positions": [_pos(r.participant_pos) for _, r in rows],
            "messages": [r.message for _, r in rows],
            "start_times": [r.start_time for _, r in rows],
            "end_times": [r.end_time for _, r in rows],
        },
    )
