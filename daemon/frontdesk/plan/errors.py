"""Plan problems as data: where (file, line, key path), what, and how bad."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """`('queues', 'billing', 'schedule')` -> `queues.billing.schedule`; list items as `[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class PlanIssue:
    """One problem found in a plan; `severity` tells a refusal from a warning."""

    file: str
    line: int
    path: KeyPath
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        label = "warning: " if self.severity == "warning" else ""
        key = f" {dotted(self.path)}:" if self.path else ""
        return f"{where}{key} {label}{self.message}"


class PlanError(Exception):
    """A plan that cannot be used; carries every issue found, not just the first."""

    def __init__(self, issues: list[PlanIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.line, dotted(i.path)))
        super().__init__("\n".join(str(i) for i in self.issues))
