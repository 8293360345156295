"""A task type for the pipeline tests, loaded by a participant through
HELICASE_PARTICIPANT_MODULES: it returns outputs of the size its params ask for."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from helicase.participant.sdk import Params, TaskContext, task_type

TYPE = "test.big_outputs"


class BigOutputsParams(Params):
    """How big the outputs are."""

    size: int = Field(ge=0, le=2**20, description="Characters in the `blob` output.")


@task_type(TYPE, params=BigOutputsParams, description="Returns {'blob': 'x' * size}.")
async def big_outputs(ctx: TaskContext, params: BigOutputsParams) -> dict[str, Any]:
    return {"blob": "x" * params.size}
