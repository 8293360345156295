"""Resolving `${tasks.<id>.outputs.<key>}` references in a task's params at placement."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

REFERENCE = re.compile(r"\$\{tasks\.([a-z0-9][a-z0-9_-]*)\.outputs\.([A-Za-z0-9_.-]+)\}")


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


def resolve(value: Any, outputs_of: Callable[[str], dict[str, Any] | None]) -> Any:
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
        return _lookup_path(outputs_of(whole.group(1)), whole.group(2))

    def text(match: re.Match[str]) -> str:
        return _as_text(_lookup_path(outputs_of(match.group(1)), match.group(2)))

    return REFERENCE.sub(text, value)
