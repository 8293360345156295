"""The SQL of RecordEvents with a fixed shape: every batch passes its rows as ONE text parameter,
a JSON array of objects built with the stdlib's C-accelerated `json.dumps`, expanded in SQL with
`json_to_recordset`. Each statement's text is the same whatever the batch size, so SQLAlchemy
compiles it once, psycopg parses it once and PostgreSQL can prepare it (a multi-row VALUES or an
IN list is a new statement for every batch size, and compiling those was most of the api's CPU).
One string is also far cheaper for psycopg to send than Python lists bound to arrays (its array
dumper is pure Python, and uuid/datetime elements each cost an object).

How values travel: ids as strings (workflow ids canonical, see `Store._record`); bytea as hex,
decoded in SQL; an event's time as integer microseconds since the epoch (exact, like protobuf's
`ToDatetime`, which drops the nanoseconds below a microsecond); other times as ISO 8601 strings;
`participant_pos` as a JSON array, read as int[]; `outputs` as a JSON object, or the key left out
when there are none (a missing key is SQL NULL). Rows read back key their dicts by the workflow
id as canonical text, so no uuid.UUID is made per row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from helicase.api.events import projection
from helicase.internal.v1 import event_pb2

INSERT_EVENTS = text(
    """
    INSERT INTO events (event_id, workflow_id, time, source, payload)
    SELECT u.event_id, u.workflow_id, to_timestamp(u.time), u.source,
           decode(u.payload, 'hex')
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(event_id text, workflow_id uuid, time float8, source text, payload text)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)

# The ids as one array literal: `= ANY` of an array is an index scan (a join with a set-returning
# function would be estimated at 100 rows and could scan the whole table).
LOCK_WORKFLOWS = text(
    """
    SELECT CAST(id AS text) AS id, state, message, start_time, end_time FROM workflows
    WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY workflows.id FOR UPDATE
    """
)

# json_to_recordset is estimated at 100 rows whatever it holds, so a plain join with tasks or
# task_attempts makes the planner hash-join a sequential scan of the whole table. A LATERAL
# subquery that locks (FOR UPDATE) cannot be flattened: each key is an index lookup, and the rows
# are locked in key order (the keys are sorted first), as before.
LOCK_TASKS = text(
    """
    SELECT CAST(t.workflow_id AS text) AS workflow_id, t.task_id, t.state, t.attempt,
           t.placement, t.participant, t.participant_pos, t.message, t.outputs
    FROM (SELECT * FROM json_to_recordset(CAST(:keys AS json)) AS k(w uuid, t text)
          ORDER BY k.w, k.t) AS k
    CROSS JOIN LATERAL (
        SELECT * FROM tasks WHERE workflow_id = k.w AND task_id = k.t FOR UPDATE
    ) AS t
    """
)

LOCK_ATTEMPTS = text(
    """
    SELECT CAST(a.workflow_id AS text) AS workflow_id, a.task_id, a.attempt, a.state,
           a.placement, a.participant, a.participant_pos, a.message, a.start_time, a.end_time
    FROM (SELECT * FROM json_to_recordset(CAST(:keys AS json)) AS k(w uuid, t text, n int)
          ORDER BY k.w, k.t, k.n) AS k
    CROSS JOIN LATERAL (
        SELECT * FROM task_attempts
        WHERE workflow_id = k.w AND task_id = k.t AND attempt = k.n FOR UPDATE
    ) AS a
    """
)

# The same estimate: each task is found by its key (LATERAL, not flattened thanks to OFFSET 0),
# then updated by its ctid, stable since lock_tasks locked the row in this transaction.
UPDATE_TASKS = text(
    """
    UPDATE tasks t SET state = u.state, attempt = u.attempt, placement = u.placement,
        participant = u.participant, participant_pos = u.pos, message = u.message,
        outputs = u.outputs, change_xid = pg_current_xact_id()
    FROM (
        SELECT u.*, x.ctid AS row_id
        FROM json_to_recordset(CAST(:rows AS json))
             AS u(w uuid, t text, state int, attempt int, placement int, participant text,
                  pos int[], message text, outputs jsonb)
        CROSS JOIN LATERAL (
            SELECT ctid FROM tasks WHERE workflow_id = u.w AND task_id = u.t OFFSET 0
        ) AS x
    ) AS u
    WHERE t.ctid = u.row_id
    """
)

UPSERT_ATTEMPTS = text(
    """
    INSERT INTO task_attempts (workflow_id, task_id, attempt, state, placement, participant,
                               participant_pos, message, start_time, end_time)
    SELECT u.w, u.t, u.n, u.state, u.placement, u.participant, u.pos, u.message,
           to_timestamp(u.start_time), to_timestamp(u.end_time)
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(w uuid, t text, n int, state int, placement int, participant text, pos int[],
              message text, start_time float8, end_time float8)
    ON CONFLICT (workflow_id, task_id, attempt) DO UPDATE SET
        state = excluded.state, placement = excluded.placement,
        participant = excluded.participant, participant_pos = excluded.participant_pos,
        message = excluded.message, start_time = excluded.start_time,
        end_time = excluded.end_time
    """
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


async def insert_events(
    conn: AsyncConnection, batch: Sequence[event_pb2.Event], workflow_ids: Mapping[str, str]
) -> list[str]:
    """Inserts the events that are new; returns their ids. `workflow_ids` maps each event's
    workflow_id to its canonical text."""
    rows = [
        {
            "event_id": e.event_id,
            "workflow_id": workflow_ids[e.workflow_id],
            "time": (e.time.seconds * 1_000_000 + e.time.nanos // 1000) / 1e6,
            "source": e.source,
            "payload": e.SerializeToString().hex(),
        }
        for e in batch
    ]
    result = await conn.execute(INSERT_EVENTS, {"rows": _dumps(rows)})
    return [event_id for (event_id,) in result]


async def lock_workflows(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Any]:
    """Locks the workflows of `ids` (canonical uuid text, so an array literal needs no quoting)
    that exist; rows keyed by canonical id."""
    result = await conn.execute(LOCK_WORKFLOWS, {"ids": "{" + ",".join(ids) + "}"})
    return {row.id: row for row in result}


async def lock_tasks(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], projection.TaskRow]:
    result = await conn.execute(LOCK_TASKS, {"keys": _dumps([{"w": w, "t": t} for w, t in keys])})
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
    conn: AsyncConnection, keys: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str, int], projection.AttemptRow]:
    result = await conn.execute(
        LOCK_ATTEMPTS, {"keys": _dumps([{"w": w, "t": t, "n": n} for w, t, n in keys])}
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


def _task_json(key: tuple[str, str], row: projection.TaskRow) -> dict[str, Any]:
    out = {
        "w": key[0],
        "t": key[1],
        "state": row.state,
        "attempt": row.attempt,
        "placement": row.placement,
        "participant": row.participant,
        "pos": row.participant_pos,
        "message": row.message,
    }
    if row.outputs is not None:  # left out: SQL NULL (a JSON null would be a jsonb 'null')
        out["outputs"] = row.outputs
    return out


async def update_tasks(
    conn: AsyncConnection, rows: Sequence[tuple[tuple[str, str], projection.TaskRow]]
) -> None:
    await conn.execute(UPDATE_TASKS, {"rows": _dumps([_task_json(k, r) for k, r in rows])})


async def upsert_attempts(
    conn: AsyncConnection, rows: Sequence[tuple[tuple[str, str, int], projection.AttemptRow]]
) -> None:
    payload = [
        {
            "w": w,
            "t": t,
            "n": n,
            "state": r.state,
            "placement": r.placement,
            "participant": r.participant,
            "pos": r.participant_pos,
            "message": r.message,
            "start_time": _epoch(r.start_time),
            "end_time": _epoch(r.end_time),
        }
        for (w, t, n), r in rows
    ]
    await conn.execute(UPSERT_ATTEMPTS, {"rows": _dumps(payload)})
