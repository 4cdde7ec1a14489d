"""Route and validate ARI requests against Asterisk 22's REST description (`ari_spec`).

Routing walks the path one segment at a time like Asterisk's `ast_ari_invoke`: a literal
segment wins over a `{wildcard}`; no match is `404 Resource not found`, a known path with
another method is `405 Invalid method`. Validation never changes the answer (Asterisk
ignores unknown parameters and reads bad integers as 0); it reports problems, which the
server records as violations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from frontdesk.emulator.ari_spec import OPERATIONS

ParamValue = str | list[str] | dict[str, object] | list[object] | int | float | bool | None

TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "false", "n", "f", "0", "off"})


@dataclass(frozen=True)
class Param:
    name: str
    where: str = "query"  # query | path | body
    type: str = "string"
    multiple: bool = False
    required: bool = False
    allowed: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    nickname: str  # resource.nickname, e.g. channels.originate
    params: tuple[Param, ...]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    wildcard: tuple[str, _Node] | None = None
    operations: dict[str, Operation] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    operation: Operation
    path_params: dict[str, str]


@dataclass(frozen=True)
class NoRoute:
    status: int  # 404 or 405
    message: str
    allow: tuple[str, ...] = ()


def parse_param(token: str) -> Param:
    allowed: tuple[str, ...] = ()
    minimum = maximum = None
    if "=" in token:
        token, values = token.split("=", 1)
        allowed = tuple(values.split("|"))
    if "~" in token:
        token, bounds = token.split("~", 1)
        low, high = bounds.split("..")
        minimum = int(low) if low else None
        maximum = int(high) if high else None
    required = token.endswith("!")
    token = token.rstrip("!")
    multiple = token.endswith("*")
    token = token.rstrip("*")
    kind = "string"
    if ":" in token:
        token, kind = token.split(":", 1)
    where = "query"
    if "@" in token:
        token, where = token.split("@", 1)
    return Param(token, where, kind, multiple, required, allowed, minimum, maximum)


def parse_operations(text: str = OPERATIONS) -> tuple[Operation, ...]:
    ops = []
    for line in text.strip().splitlines():
        method, path, nickname, *params = line.split()
        ops.append(Operation(method, path, nickname, tuple(parse_param(p) for p in params)))
    return tuple(ops)


@cache
def operations() -> tuple[Operation, ...]:
    return parse_operations()


@cache
def _tree() -> _Node:
    root = _Node()
    for op in operations():
        node = root
        for segment in op.path.strip("/").split("/"):
            if segment.startswith("{"):
                name = segment[1:-1]
                if node.wildcard is None:
                    node.wildcard = (name, _Node())
                node = node.wildcard[1]
            else:
                node = node.literal.setdefault(segment, _Node())
        node.operations[op.method] = op
    return root


def route(method: str, path: str | Sequence[str]) -> Match | NoRoute:
    """Find the operation for `path` (without the `/ari` prefix, already URL-decoded).

    A list is the path's segments, each decoded on its own (as Asterisk splits before it
    decodes, an `%2F` stays inside its segment: a recording name `box/file`)."""
    node = _tree()
    params: dict[str, str] = {}
    segments = path.strip("/").split("/") if isinstance(path, str) else path or [""]
    for segment in segments:
        if segment in node.literal:
            node = node.literal[segment]
        elif node.wildcard is not None and segment:
            params[node.wildcard[0]] = segment
            node = node.wildcard[1]
        else:
            return NoRoute(404, "Resource not found")
    op = node.operations.get(method)
    if op is None:
        if not node.operations:
            return NoRoute(404, "Resource not found")
        return NoRoute(405, "Invalid method", tuple(sorted(node.operations)))
    return Match(op, params)


def validate(op: Operation, query: Mapping[str, object], body: Mapping[str, object]) -> list[str]:
    """Problems with a request's parameters (empty when it is valid for `op`)."""
    problems: list[str] = []
    for name, value in query.items():
        problems += _check(op, name, value, "query string")
    whole = any(p.where == "body" and p.type == "object" for p in op.params)
    if not whole:  # an `object` body parameter is the whole body (an event filter)
        for key, item in body.items():
            problems += _check(op, key, item, "JSON body")
    given = set(query) | set(body)
    for param in op.params:
        if param.required and param.where != "path" and param.name not in given:
            problems.append(f"missing required parameter {param.name!r}")
    return problems


def _check(op: Operation, name: str, value: object, where: str) -> list[str]:
    param = op.param(name)
    if param is None or param.where == "path":
        return [f"unknown parameter {name!r} in the {where} of {op.nickname}"]
    if param.where == "body":
        return [] if isinstance(value, dict) else [f"{name!r} must be a JSON object"]
    values = _split(value, param.multiple)
    return [p for v in values for p in _check_value(param, v)]


def _split(value: object, multiple: bool) -> list[object]:
    if isinstance(value, list):
        return list(value)
    if multiple and isinstance(value, str):
        return list(value.split(","))
    return [value]


def _check_value(param: Param, value: object) -> list[str]:
    text = value if isinstance(value, str) else _json_scalar(value)
    if text is None:
        return [f"{param.name!r} must be a {param.type}, got {type(value).__name__}"]
    if param.type in ("int", "long"):
        try:
            number = int(text)
        except ValueError:
            return [f"{param.name!r} must be an integer, got {text!r}"]
        if param.minimum is not None and number < param.minimum:
            return [f"{param.name!r} must be >= {param.minimum}, got {number}"]
        if param.maximum is not None and number > param.maximum:
            return [f"{param.name!r} must be <= {param.maximum}, got {number}"]
    elif param.type == "boolean" and text.lower() not in TRUE_WORDS | FALSE_WORDS:
        return [f"{param.name!r} must be a boolean, got {text!r}"]
    if param.allowed and text not in param.allowed:
        return [f"{param.name!r} must be one of {'|'.join(param.allowed)}, got {text!r}"]
    return []


def _json_scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def as_text(value: object) -> str | None:
    """A parameter value as Asterisk's generated code reads it (JSON scalars as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(t for t in (as_text(v) for v in value) if t is not None)
    return _json_scalar(value)


def as_list(value: object) -> list[str]:
    """An `allowMultiple` value: comma-separated or repeated, empty items dropped."""
    if value is None:
        return []
    items: Sequence[object] = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        text = as_text(item)
        if text:
            out += [part for part in text.split(",") if part]
    return out


def as_int(value: object) -> int:
    """C `atoi`: the leading digits, 0 when there are none."""
    text = (as_text(value) or "").strip()
    end = 1 if text[:1] in ("+", "-") else 0
    while end < len(text) and text[end].isdigit():
        end += 1
    try:
        return int(text[:end])
    except ValueError:
        return 0


def as_bool(value: object) -> bool:
    return (as_text(value) or "").lower() in TRUE_WORDS
