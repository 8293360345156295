"""The CLI's offline parts: reading workflow files (JSON, YAML, stdin), labels, help and shell
completion, and which tasks a small screen shows; no api needed."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from helicase.cli._input import InputError, parse_labels, parse_workflow_text, read_workflow
from helicase.cli._render import task_table, visible_tasks
from helicase.client import load_workflow_request
from helicase.v1 import workflow_pb2

ROOT = Path(__file__).resolve().parents[2]
HELICASE = ROOT / ".venv" / "bin" / "helicase"


def test_json_and_yaml_files_give_the_same_request(tmp_path: Path) -> None:
    design = json.loads((ROOT / "examples" / "hello.json").read_text())
    as_yaml = tmp_path / "hello.yaml"
    as_yaml.write_text(yaml.safe_dump(design))
    from_json = read_workflow(str(ROOT / "examples" / "hello.json"))
    from_yaml = read_workflow(str(as_yaml))
    assert from_json == from_yaml == design
    request = load_workflow_request(from_yaml)
    assert [t.id for t in request.workflow.tasks] == ["a", "b"]
    assert request.request_id  # generated when the file leaves it empty


def test_standard_input_is_read_for_a_dash() -> None:
    stdin = io.StringIO("workflow:\n  tasks:\n    - {id: a, type: noop}\n")
    assert read_workflow("-", stdin) == {"workflow": {"tasks": [{"id": "a", "type": "noop"}]}}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ('{"workflow": ', "not valid JSON"),
        ("workflow: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "expected an object"),
    ],
)
def test_unreadable_input_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse_workflow_text(text, name="wf")


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.json"):
        read_workflow(str(tmp_path / "absent.json"))


def test_labels_are_key_value_pairs() -> None:
    assert parse_labels(["team=chem", "note=a=b", "empty="]) == {
        "team": "chem",
        "note": "a=b",
        "empty": "",
    }
    for bad in ("team", "=chem"):
        with pytest.raises(InputError):
            parse_labels([bad])


def test_help_lists_every_command_and_completion_scripts_are_offered() -> None:
    shown = subprocess.run(
        [str(HELICASE), "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for command in ("submit", "get", "list", "watch", "cancel", "task-types", "participants"):
        assert command in shown
    assert "--install-completion" in shown
    script = subprocess.run(
        [str(HELICASE), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert script.returncode == 0, script.stderr
    assert "_HELICASE_COMPLETE" in script.stdout


def test_a_live_view_too_small_for_every_task_shows_running_and_failed_ones_first() -> None:
    states = ["COMPLETED"] * 50 + ["RUNNING", "FATAL_FAILED"] + ["PENDING"] * 20 + ["READY"]
    tasks = [
        workflow_pb2.Task(id=f"t{i}", state=workflow_pb2.TaskState.Value(f"TASK_STATE_{s}"))
        for i, s in enumerate(states)
    ]
    shown = [t.id for t in visible_tasks(tasks, 4)]
    assert shown == ["t50", "t51", "t52", "t72"]  # definition order among the chosen
    assert len(visible_tasks(tasks, None)) == len(tasks) == len(visible_tasks(tasks, 100))
    table = task_table(workflow_pb2.Workflow(tasks=tasks), limit=4)
    assert table.row_count == 5  # four tasks and "… 69 more"
