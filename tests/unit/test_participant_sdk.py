"""The typed task-type SDK: a params model drives the advertised schema and what `run` sees."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import Field

from helicase.common.errors import NonRetryableError
from helicase.internal.v1 import participant_pb2
from helicase.participant.runner import params_error, run_task
from helicase.participant.sdk import TASK_TYPES, Params, TaskContext, task_type

Outcome = participant_pb2.TaskOutcome


class GreetParams(Params):
    """Whom to greet, how often."""

    name: str = Field(min_length=1)
    times: int = Field(default=1, ge=1, le=3)


seen: list[GreetParams] = []


@task_type("test.greet", params=GreetParams)
async def greet(ctx: TaskContext, params: GreetParams) -> dict[str, Any]:
    """Greets someone."""
    seen.append(params)
    ctx.set_output("early", True)
    ctx.progress(0.5, "half way")
    return {"greeting": " ".join([f"hello {params.name}"] * params.times)}


def context() -> TaskContext:
    ref = participant_pb2.TaskRef(workflow_id="w", task_id="t", attempt=1)
    return TaskContext(
        ref=ref,
        participant="p",
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
        grace=timedelta(seconds=0.5),
    )


def test_the_model_schema_is_what_the_registry_advertises() -> None:
    registered = TASK_TYPES["test.greet"]
    assert registered.description == "Greets someone."
    assert registered.schema["additionalProperties"] is False
    assert registered.schema["required"] == ["name"]
    assert registered.schema["properties"]["times"]["maximum"] == 3
    assert params_error(registered.schema, {"name": "x", "times": 4}) is not None
    assert params_error(registered.schema, {"name": "x", "other": 1}) is not None
    assert params_error(registered.schema, {"name": "x"}) is None


async def test_run_receives_the_validated_model_and_outputs_merge() -> None:
    ctx = context()
    # protobuf Structs carry every number as a double: 2.0 must still be the integer 2
    result = await run_task(TASK_TYPES["test.greet"], ctx, {"name": "ada", "times": 2.0}, None)
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED
    assert result.outputs == {"early": True, "greeting": "hello ada hello ada"}
    assert seen[-1] == GreetParams(name="ada", times=2)
    assert ctx.last_progress == (0.5, "half way")


async def test_params_the_model_rejects_are_fatal() -> None:
    registered = TASK_TYPES["test.greet"]
    # called directly, past the JSON-schema check, to reach the model's own validation
    with pytest.raises(NonRetryableError, match="times"):
        await registered.run(context(), {"name": "ada", "times": 2.5})


def test_a_type_needs_exactly_one_of_schema_and_params() -> None:
    with pytest.raises(TypeError):
        task_type("test.bad")  # type: ignore[call-overload]


def test_the_airavata_library_is_imported_only_when_its_types_are_served() -> None:
    from helicase.common.config import CommonConfig
    from helicase.participant.__main__ import AIRAVATA, task_modules
    from helicase.participant.config import ParticipantConfig

    def config(types: tuple[str, ...], modules: tuple[str, ...] = ()) -> ParticipantConfig:
        return ParticipantConfig(
            common=CommonConfig.from_env(), listen="", name="p", group="g", capacity=1,
            task_types=types, grace=timedelta(seconds=1), max_rss_mb=0, modules=modules,
        )  # fmt: skip

    assert task_modules(config(("noop", "shell"))) == []
    assert task_modules(config(("airavata.submit_job",), ("gw.tasks",))) == [AIRAVATA, "gw.tasks"]
