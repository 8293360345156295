"""Reading what to submit or create: a JSON or YAML file, or standard input ("-")."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


class InputError(ValueError):
    """The workflow file cannot be read or is not a JSON/YAML object."""


def parse_workflow_text(
    text: str, *, name: str = "<stdin>", what: str = "a workflow"
) -> dict[str, Any]:
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
        raise InputError(f"{name}: expected an object with {what}, got {type(data).__name__}")
    return data


def read_text(source: str, stdin: TextIO | None = None) -> str:
    """The text of file `source`, or of standard input for "-"."""
    if source == "-":
        return (stdin or sys.stdin).read()
    try:
        return Path(source).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else None
        raise InputError(f"{source}: {reason or exc}") from exc


def read_workflow(
    source: str, stdin: TextIO | None = None, *, what: str = "a workflow"
) -> dict[str, Any]:
    """`source` is a file path, or "-" for standard input."""
    name = "<stdin>" if source == "-" else source
    return parse_workflow_text(read_text(source, stdin), name=name, what=what)


def to_request(raw: dict[str, Any], request: M, field: str) -> M:
    """Fills `request` (e.g. a CreateScheduleRequest) from a document that is either the request
    in proto JSON (camelCase or snake_case names, {"requestId": .., "schedule": {..}}) or only
    the message of its `field` (a bare schedule)."""
    camel = field.split("_")[0] + "".join(p.title() for p in field.split("_")[1:])
    if field not in raw and camel not in raw:
        raw = {camel: raw}
    try:
        return json_format.ParseDict(raw, request)
    except json_format.ParseError as exc:
        raise InputError(str(exc)) from exc


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """["team=chem", "env=dev"] -> {"team": "chem", "env": "dev"}."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels
