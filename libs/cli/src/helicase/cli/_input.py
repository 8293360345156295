"""Reading a workflow to submit: a JSON or YAML file, or standard input ("-")."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import yaml


class InputError(ValueError):
    """The workflow file cannot be read or is not a JSON/YAML object."""


def parse_workflow_text(text: str, *, name: str = "<stdin>") -> dict[str, Any]:
    """A JSON or YAML document holding a CreateWorkflowRequest (or a bare workflow) as a dict.

    JSON is tried first (it is also YAML, but JSON's error messages are clearer for JSON input);
    YAML otherwise, loaded with the safe loader."""
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"{name}: empty")
    if stripped.startswith("{"):
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not valid JSON: {exc}") from exc
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected an object with a workflow, got {type(data).__name__}")
    return data


def read_workflow(source: str, stdin: TextIO | None = None) -> dict[str, Any]:
    """`source` is a file path, or "-" for standard input."""
    if source == "-":
        return parse_workflow_text((stdin or sys.stdin).read())
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{source}: {exc.strerror or exc}") from exc
    return parse_workflow_text(text, name=source)


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """["team=chem", "env=dev"] -> {"team": "chem", "env": "dev"}."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels
