"""A task library the limits tests load into a participant (HELICASE_PARTICIPANT_MODULES), as a
gateway loads its own: one task type returning the outputs it is asked for, including ones that
are not finite JSON or too big."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from helicase.participant.sdk import Params, TaskContext, task_type

TYPE = "emit_outputs"


class EmitParams(Params):
    """What to return."""

    kind: Literal["nan", "infinity", "big", "fine"] = Field(description="The outputs to return.")
    size: int = Field(default=0, ge=0, description="Bytes of text in the `big` outputs.")


@task_type(TYPE, params=EmitParams, description="Returns the outputs `kind` names.")
async def emit_outputs(ctx: TaskContext, params: EmitParams) -> dict[str, Any]:
    if params.kind == "nan":
        return {"ok": 1, "x": float("nan")}
    if params.kind == "infinity":
        return {"nested": {"values": [1.0, float("inf")]}}
    if params.kind == "big":
        return {"blob": "x" * params.size}
    return {"ok": 1}
