"""Resolving `${tasks.<id>.outputs.<key>}` references in a task's params at placement.

An output is data, never code: in a `shell` task's `command` each reference becomes a shell
variable, `${HELICASE_OUTPUT_<n>}`, and the output's text travels in the task's `env`, so the
shell expands it as a value and never parses it (`$(...)`, `;`, quotes in an output stay text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

REFERENCE = re.compile(r"\$\{tasks\.([a-z0-9][a-z0-9_-]*)\.outputs\.([A-Za-z0-9_.-]+)\}")


OutputsOf = Callable[[str], dict[str, Any] | None]
SHELL = "shell"
SHELL_VARIABLE = "HELICASE_OUTPUT_{}"
"""The variable that carries the n-th distinct output referenced in a shell command."""


def _lookup_path(outputs: dict[str, Any] | None, path: str) -> Any:
    value: Any = outputs or {}
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(value: Any) -> str:
    """How an output reads inside a longer string: strings as they are, whole numbers without
    ".0" (Struct numbers are doubles), anything else as JSON; a missing output as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _output(match: re.Match[str], outputs_of: OutputsOf) -> Any:
    return _lookup_path(outputs_of(match.group(1)), match.group(2))


def _text(value: Any, outputs_of: OutputsOf) -> Any:
    """A string with every reference replaced by its output's text (other values as they are)."""
    if not isinstance(value, str):
        return value
    return REFERENCE.sub(lambda match: _as_text(_output(match, outputs_of)), value)


def resolve(value: Any, outputs_of: OutputsOf) -> Any:
    """A copy of `value` with references replaced. A string that is exactly one reference keeps
    the output's JSON type; references inside longer strings are replaced by their text."""
    if isinstance(value, dict):
        return {k: resolve(v, outputs_of) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs_of) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = REFERENCE.fullmatch(value)
    if whole:
        return _output(whole, outputs_of)
    return _text(value, outputs_of)


def _shell_params(params: dict[str, Any], outputs_of: OutputsOf) -> dict[str, Any]:
    declared = params.get("env", {})
    if not isinstance(declared, dict):  # not a map: the participant refuses the params anyway
        return cast(dict[str, Any], resolve(params, outputs_of))
    variables: dict[str, str] = {}  # reference -> variable name
    env = {name: _text(value, outputs_of) for name, value in declared.items()}

    def variable(match: re.Match[str]) -> str:
        name = variables.setdefault(match.group(0), SHELL_VARIABLE.format(len(variables) + 1))
        env[name] = _as_text(_output(match, outputs_of))
        return "${" + name + "}"

    resolved = resolve({k: v for k, v in params.items() if k not in ("command", "env")}, outputs_of)
    resolved["command"] = REFERENCE.sub(variable, params["command"])
    if env:
        resolved["env"] = env
    return cast(dict[str, Any], resolved)


def resolve_params(task_type: str, params: dict[str, Any], outputs_of: OutputsOf) -> Any:
    """`params` of a task of `task_type` with references resolved: a `shell` command gets
    variables in their place (module doc), any other string the output's value or text."""
    if task_type == SHELL and isinstance(params.get("command"), str):
        return _shell_params(params, outputs_of)
    return resolve(params, outputs_of)
