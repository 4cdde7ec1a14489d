"""Load a plan file: YAML with line numbers -> typed model -> reference checks.

Every problem is collected and raised together as one PlanError, each naming the
file, the line and the key path, with a near name suggested where one exists.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from frontdesk.plan.errors import KeyPath, PlanError, PlanIssue, did_you_mean
from frontdesk.plan.model import Plan
from frontdesk.plan.references import check_references
from frontdesk.plan.schedule import PlanValueError
from frontdesk.plan.source import Source, SourceMap, parse_source, read_source

_SHORT_MESSAGES = {
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "string_type": "expected text",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "date_from_datetime_parsing": "expected a date like 2026-12-24",
    "date_parsing": "expected a date like 2026-12-24",
}


def load_plan(path: str | Path, display_name: str | None = None) -> Plan:
    """Read and validate a plan; raises PlanError listing every problem."""
    return read_plan(path, display_name)[0]


def read_plan(path: str | Path, display_name: str | None = None) -> tuple[Plan, SourceMap]:
    """The plan and where each of its keys stands in the file (for later messages)."""
    source, issues = read_source(Path(path), display_name)
    return _build(source, issues), _lines(source)


def load_plan_text(text: str, name: str = "<plan>") -> Plan:
    source, issues = parse_source(text, name)
    return _build(source, issues)


def _lines(source: Source | None) -> SourceMap:
    assert source is not None  # _build raised otherwise
    return source.lines


def _build(source: Source | None, issues: list[PlanIssue]) -> Plan:
    if source is None:
        raise PlanError(issues)
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(source.data)
    except ValidationError as exc:
        issues.extend(_from_pydantic(error, source.lines) for error in exc.errors())
    issues.extend(check_references(source))
    if issues or plan is None:
        raise PlanError(_unique(issues))
    return plan


def _unique(issues: list[PlanIssue]) -> list[PlanIssue]:
    return list(dict.fromkeys(issues))


def _from_pydantic(error: ErrorDetails, lines: SourceMap) -> PlanIssue:
    path: KeyPath = tuple(part for part in error["loc"] if part != "[key]")
    on_key = "[key]" in error["loc"]
    kind = error["type"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, PlanValueError):
        path, on_key = (*path, *cause.subpath), bool(cause.subpath)
        message = str(cause)
    elif kind == "extra_forbidden":
        known = _fields_at(Plan, path[:-1])
        message = f"unknown key '{path[-1]}'{did_you_mean(str(path[-1]), known)}"
        on_key = True
    elif kind == "missing":
        message = f"missing required key '{path[-1]}'"
        path = path[:-1]
        return PlanIssue(lines.file, lines.line(path), (*path, error["loc"][-1]), message)
    else:
        message = _SHORT_MESSAGES.get(kind, error["msg"].removeprefix("Value error, "))
        if kind in _SHORT_MESSAGES and isinstance(error["input"], str):
            message += f", got '{error['input']}'"
    return PlanIssue(lines.file, lines.line(path, key=on_key), path, message)


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """The key names a mapping at `path` may hold, for "did you mean" hints."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, tuple, list):
            current = typing.get_args(current)[-1 if typing.get_origin(current) is dict else 0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] and Annotated[...] to reach the model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation
