"""Definitions, retry backoff and output references: the controller's pure helpers."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helicase.common.errors import InvalidArgument
from helicase.controller import RetrySettings, backoff, build
from helicase.controller._dag import check_submitted
from helicase.controller._params import resolve, resolve_params
from helicase.controller.testing import definition


def violations(tasks: list[dict[str, object]], **fields: object) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        build(definition(tasks, **fields))  # type: ignore[arg-type]
    return [f"{v.field}: {v.description}" for v in caught.value.violations]


def test_build_keeps_tasks_compact_and_parses_them_on_demand() -> None:
    built = build(
        definition(
            [
                {"id": "a", "type": "noop"},
                {"id": "b", "type": "gpu", "instanceGroup": "hpc", "dependsOn": ["a"]},
                {"id": "c", "type": "noop", "dependsOn": ["a", "b"], "params": {"x": 1}},
            ]
        )
    )
    assert built.ids == ["a", "b", "c"] and built.index["c"] == 2
    assert built.kind(0) == ("default", "noop") and built.kind(1) == ("hpc", "gpu")
    assert list(built.dep_counts) == [0, 1, 2]
    assert sorted(built.dependents_of(0)) == [1, 2] and list(built.dependents_of(2)) == []
    assert built.task(2).params["x"] == 1
    assert [t.id for t in built.workflow().tasks] == ["a", "b", "c"]


def test_build_rejects_bad_definitions_naming_each_field() -> None:
    assert violations([{"id": "a", "type": "noop"}], workflow_id="") == ["workflow.id: must be set"]
    found = violations(
        [
            {"id": "a", "type": "noop", "dependsOn": ["ghost", "a"]},
            {"id": "a", "type": ""},
        ]
    )
    assert found == [
        "workflow.tasks[1].id: duplicate task id 'a'",
        "workflow.tasks[1].type: must be set",
        "workflow.tasks[0].depends_on[0]: unknown task 'ghost'",
        "workflow.tasks[0].depends_on[1]: a task cannot depend on itself",
    ]
    (cycle,) = violations(
        [
            {"id": "a", "type": "noop", "dependsOn": ["c"]},
            {"id": "b", "type": "noop", "dependsOn": ["a"]},
            {"id": "c", "type": "noop", "dependsOn": ["b"]},
            {"id": "d", "type": "noop"},
        ]
    )
    assert cycle.startswith("workflow.tasks: dependency cycle among tasks ['a', 'b', 'c']")


def test_retry_settings_default_unset_fields() -> None:
    task = build(definition([{"id": "a", "type": "noop", "retry": {"maxBackoff": "5s"}}])).task(0)
    assert RetrySettings.of(task) == RetrySettings(max_backoff=5.0)


@given(st.integers(1, 40), st.text(max_size=20))
def test_backoff_grows_geometrically_within_jitter_and_is_capped(attempt: int, seed: str) -> None:
    settings = RetrySettings()  # 1 s, x2, 60 s
    expected = min(60.0, 2.0 ** (attempt - 1))
    delay = backoff(settings, attempt, seed)
    assert 0.8 * expected <= delay <= 1.2 * expected
    assert delay == backoff(settings, attempt, seed)  # deterministic given the seed


def test_backoff_jitter_spreads_across_seeds() -> None:
    delays = {round(backoff(RetrySettings(), 1, f"w/t/{i}"), 6) for i in range(50)}
    assert len(delays) > 40 and min(delays) >= 0.8 and max(delays) <= 1.2


def test_references_keep_types_when_whole_and_read_as_text_when_embedded() -> None:
    outputs = {"make": {"dir": "/x", "n": 3.0, "ok": True, "nested": {"k": [1]}}}
    params = {
        "path": "${tasks.make.outputs.dir}/in",
        "n": "${tasks.make.outputs.n}",
        "deep": "${tasks.make.outputs.nested.k}",
        "text": "n=${tasks.make.outputs.n} ok=${tasks.make.outputs.ok} "
        "missing=${tasks.ghost.outputs.x} nested=${tasks.make.outputs.nested}",
        "plain": ["no $ref", 2],
    }
    assert resolve(params, outputs.get) == {
        "path": "/x/in",
        "n": 3.0,
        "deep": [1],
        "text": 'n=3 ok=true missing= nested={"k":[1]}',
        "plain": ["no $ref", 2],
    }


NASTY = [
    "$(touch {pwned})",
    "`touch {pwned}`",
    "; touch {pwned}; echo",
    "' ; touch {pwned}; '",
    '" ; touch {pwned}; "',
    "x\ntouch {pwned}",
    "${{HOME}} $0 * ?",
]


def test_outputs_reach_a_shell_command_as_variables_never_as_shell_text() -> None:
    evil = "$(touch /tmp/pwned); rm -rf x"
    outputs = {"make": {"evil": evil, "n": 3.0}}
    params = {
        "command": 'echo "${tasks.make.outputs.evil}" ${tasks.make.outputs.n} '
        '"${tasks.make.outputs.evil}"',
        "env": {"N": "${tasks.make.outputs.n}", "SAY": "n=${tasks.make.outputs.n}"},
        "fatal_exit_codes": [3],
    }
    assert resolve_params("shell", params, outputs.get) == {
        "command": 'echo "${HELICASE_OUTPUT_1}" ${HELICASE_OUTPUT_2} "${HELICASE_OUTPUT_1}"',
        "env": {"N": "3", "SAY": "n=3", "HELICASE_OUTPUT_1": evil, "HELICASE_OUTPUT_2": "3"},
        "fatal_exit_codes": [3],
    }
    # Any other type's params are resolved as before.
    assert resolve_params("noop", params, outputs.get) == resolve(params, outputs.get)


@pytest.mark.parametrize("template", NASTY)
def test_an_output_arrives_in_a_shell_command_as_literal_text(
    template: str, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    value = template.format(pwned=pwned)
    params = resolve_params(
        "shell", {"command": 'printf %s "${tasks.a.outputs.v}"'}, {"a": {"v": value}}.get
    )
    ran = subprocess.run(
        ["/bin/sh", "-c", params["command"]],
        env=params.get("env", {}),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert ran.stdout == value
    assert not pwned.exists()


@settings(max_examples=40, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00")))
def test_any_output_text_reaches_a_shell_command_unchanged(value: str) -> None:
    params = resolve_params(
        "shell", {"command": 'printf %s "${tasks.a.outputs.v}"'}, {"a": {"v": value}}.get
    )
    ran = subprocess.run(
        ["/bin/sh", "-c", params["command"]], env=params["env"], capture_output=True, check=True
    )
    assert ran.stdout.decode() == value


def test_a_submitted_workflow_id_must_be_a_workflow_id() -> None:
    # It names ZooKeeper nodes (/helicase/controller/workflows/<id>): "../x" or a NUL made every
    # state write of the leader fail, retried with every later write (found by reading, after a
    # make fuzz stall).
    for bad in ("", "w1", "../../x", "a/b", "\x00", str(uuid.uuid4()).upper(), "😀"):
        with pytest.raises(InvalidArgument) as caught:
            check_submitted(definition([], workflow_id=bad))
        assert [v.field for v in caught.value.violations] == ["workflow.id"], bad
    check_submitted(definition([{"id": "a", "type": "noop"}], workflow_id=str(uuid.uuid4())))
