"""Read a plan file into plain data, remembering the line of every key and value.

YAML 1.1's implicit typing turns `no` into False, `0200` into 128 and `1:30` into 90.
A routing plan is full of such values (extensions, keys, times), so every plain scalar
stays a string here; the typed model decides what each one means. Empty values,
`~` and `null` become None. Duplicate keys are errors, not silent overrides.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from frontdesk.plan.errors import KeyPath, PlanIssue


class _StringLoader(yaml.SafeLoader):
    """SafeLoader without implicit resolvers: every plain scalar is a string."""


_StringLoader.yaml_implicit_resolvers = {}

_NULLS = {"", "~", "null", "Null", "NULL"}
# A routing plan is a few kB with a handful of levels; far beyond these it is an accident
# or an attack (alias "billion laughs", deep nesting) that must not hang or crash us.
MAX_PLAN_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 50_000


class _TooBig(Exception):
    """The document is nested too deeply or expands to too many nodes."""


@dataclass
class SourceMap:
    """Line numbers (1-based) of each key path's value and of the key itself."""

    file: str
    value_lines: dict[KeyPath, int] = field(default_factory=dict)
    key_lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath, *, key: bool = False) -> int:
        """The line of `path`, or of its nearest ancestor that the file has."""
        table = self.key_lines if key else self.value_lines
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.value_lines:
                return self.value_lines[probe]
            probe = probe[:-1]
        return self.value_lines.get((), 1)


@dataclass
class Source:
    data: Any
    lines: SourceMap


def read_source(
    path: Path, display_name: str | None = None
) -> tuple[Source | None, list[PlanIssue]]:
    """Parse `path`; on failure return the issues (never raises for bad content)."""
    name = display_name or str(path)
    try:
        raw = read_regular(path, MAX_PLAN_BYTES)
    except FileNotFoundError:
        return None, [PlanIssue(name, 0, (), "no such file")]
    except _NotRegular as exc:
        return None, [PlanIssue(name, 0, (), f"cannot read the plan: {exc}")]
    except OSError as exc:
        return None, [PlanIssue(name, 0, (), f"cannot read the plan: {exc.strerror or exc}")]
    if len(raw) > MAX_PLAN_BYTES:
        message = f"the plan is larger than {MAX_PLAN_BYTES // 1024} kB; a routing plan is a few kB"
        return None, [PlanIssue(name, 1, (), message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [PlanIssue(name, line, (), "cannot read the plan: not UTF-8 text")]
    return parse_source(text, name)


class _NotRegular(OSError):
    """The path is a FIFO, a device, a directory or a socket: not a file to read."""


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit + 1` bytes of the regular file `path` (so that a caller can tell
    "too big"). Anything else (a FIFO, which would block forever; `/dev/zero`, which
    never ends; a directory) raises `OSError` without being read. The file is opened
    non-blocking and checked with `fstat`, so a FIFO swapped in meanwhile cannot hang us.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NotRegular("not a regular file")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_source(text: str, name: str) -> tuple[Source | None, list[PlanIssue]]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PLAN_BYTES:
        message = f"the plan is larger than {MAX_PLAN_BYTES // 1024} kB; a routing plan is a few kB"
        return None, [PlanIssue(name, 1, (), message)]
    try:
        node = yaml.compose(text, Loader=_StringLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [PlanIssue(name, line, (), f"invalid YAML: {problem}")]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text[: exc.position].count("\n") + 1
        message = f"invalid YAML: character {exc.character!r} is not allowed"
        return None, [PlanIssue(name, line, (), message)]
    except yaml.YAMLError as exc:
        return None, [PlanIssue(name, 1, (), f"invalid YAML: {exc}")]
    except RecursionError:
        message = f"the plan is nested too deeply (more than {MAX_DEPTH} levels)"
        return None, [PlanIssue(name, 1, (), message)]
    lines = SourceMap(name)
    issues: list[PlanIssue] = []
    if node is None:
        return None, [PlanIssue(name, 1, (), "the plan is empty")]
    # Duplicate keys are reported, but loading goes on so every other problem shows too.
    try:
        data = _convert(node, (), lines, issues, [0])
    except _TooBig as exc:
        return None, [PlanIssue(name, 1, (), str(exc))]
    return Source(data, lines), issues


def _convert(
    node: yaml.Node, path: KeyPath, lines: SourceMap, issues: list[PlanIssue], count: list[int]
) -> Any:
    count[0] += 1
    if len(path) > MAX_DEPTH:
        raise _TooBig(f"the plan is nested too deeply (more than {MAX_DEPTH} levels)")
    if count[0] > MAX_NODES:
        raise _TooBig(f"the plan expands to more than {MAX_NODES} values (aliases?)")
    # A block mapping or list "starts" at its first child; point at its own key instead.
    block = not isinstance(node, yaml.ScalarNode) and path in lines.key_lines
    lines.value_lines[path] = lines.key_lines[path] if block else node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        if node.style is None and value in _NULLS:
            return None
        return value
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), lines, issues, count) for i, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.MappingNode)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            issues.append(
                PlanIssue(lines.file, key_node.start_mark.line + 1, path, "keys must be plain text")
            )
            continue
        key = str(key_node.value)
        key_line = key_node.start_mark.line + 1
        if key in result:
            first = lines.key_lines[(*path, key)]
            issues.append(
                PlanIssue(
                    lines.file, key_line, (*path, key), f"duplicate key (first at line {first})"
                )
            )
            continue
        lines.key_lines[(*path, key)] = key_line
        result[key] = _convert(value_node, (*path, key), lines, issues, count)
    return result
