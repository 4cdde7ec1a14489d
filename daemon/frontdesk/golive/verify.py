"""`frontdesk golive verify`: does each go-live call's row say what the case expects?

Matching. A call row carries no case tag (the `calls` table stores what the call was,
not which test it was), so cases are matched by what the run controls: the caller's
number, the dialled number and the order. `run.sh` places one call at a time in case
order, so the k-th row of a (caller, DID) pair, by `started_at`, is the k-th case of that
pair. Rows come from `--since` on (default: the `started_at.txt` that `run.sh` writes),
else the most recent rows of each pair. A missing call shows as "no call row" for the
last cases of its pair; a surplus is reported.

Checks per case: route kind, destination (queue and skills, box, or transfer target),
category, language, after hours, holiday, urgent, and whether the caller was a known
patient (an "unknown" test caller found in the directory would route differently).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.golive.cases import Case, Expected
from frontdesk.golive.sipp import destination_text
from frontdesk.store import db


@dataclass(frozen=True)
class CallRow:
    linkedid: str
    caller: str | None
    dialled: str | None
    started_at: datetime
    category: str | None
    destination: dict[str, Any] | None
    language: str | None
    after_hours: bool
    holiday: bool
    urgent: bool
    patient_id: str | None


@dataclass(frozen=True)
class Verdict:
    case: Case
    row: CallRow | None
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case.number,
            "id": self.case.id,
            "passed": self.passed,
            "linkedid": self.row.linkedid if self.row else None,
            "expected": destination_text(self.case.expected.destination),
            "got": _got(self.row),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Outcome:
    verdicts: list[Verdict]
    surplus: list[CallRow]  # rows of test callers that no case claims

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def as_json(self) -> dict[str, Any]:
        failed = [v for v in self.verdicts if not v.passed]
        return {
            "passed": self.passed,
            "cases": len(self.verdicts),
            "failed": len(failed),
            "surplus_rows": [r.linkedid for r in self.surplus],
            "verdicts": [v.as_json() for v in self.verdicts],
        }


def match(cases: Iterable[Case], rows: Iterable[CallRow], *, latest: bool) -> Outcome:
    """Pair cases with rows per (caller, DID) in order; `latest`: the pair's last rows."""
    by_pair: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: c.number):
        by_pair[case.caller, case.did].append(case)
    rows_by_pair: dict[tuple[str | None, str | None], list[CallRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.started_at, r.linkedid)):
        rows_by_pair[row.caller, row.dialled].append(row)
    verdicts: list[Verdict] = []
    surplus: list[CallRow] = []
    for pair, pair_cases in by_pair.items():
        found = rows_by_pair.pop(pair, [])
        if latest:
            found = found[-len(pair_cases) :]
        surplus += found[len(pair_cases) :]
        for index, case in enumerate(pair_cases):
            paired = found[index] if index < len(found) else None
            verdicts.append(Verdict(case, paired, tuple(compare(case.expected, paired))))
    callers = {c for c, _ in by_pair}
    surplus += [r for (caller, _), rs in rows_by_pair.items() if caller in callers for r in rs]
    verdicts.sort(key=lambda v: v.case.number)
    return Outcome(verdicts, sorted(surplus, key=lambda r: r.started_at))


def compare(expected: Expected, row: CallRow | None) -> list[str]:
    if row is None:
        return ["no call row (the call did not reach frontdesk, or was not recorded)"]
    if row.destination is None:
        return ["the call was never routed (hung up in the menu?)"]
    problems = []
    if row.destination != expected.destination:
        problems.append(
            f"went to {destination_text(row.destination)}, "
            f"expected {destination_text(expected.destination)}"
        )
    checks: list[tuple[str, object, object]] = [
        ("category", row.category, expected.category),
        ("language", row.language, expected.language),
        ("after hours", row.after_hours, expected.after_hours),
        ("holiday", row.holiday, expected.holiday),
        ("urgent", row.urgent, expected.urgent),
        ("known patient", row.patient_id is not None, expected.known),
    ]
    for name, got, want in checks:
        if got != want:
            problems.append(f"{name}: {_text(got)}, expected {_text(want)}")
    return problems


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _got(row: CallRow | None) -> str:
    if row is None:
        return "-"
    return destination_text(row.destination) if row.destination else "not routed"


# -- reading the rows -------------------------------------------------------------------------
_QUERY = """
SELECT linkedid, caller, dialled, started_at, category, destination, language,
       after_hours, holiday, urgent, patient_id
FROM calls
WHERE caller = ANY($1::text[]) AND started_at >= $2
ORDER BY started_at, linkedid
"""


async def load_rows(
    conn: db.Connection, callers: Iterable[str], since: datetime, *, timeout: float = 30.0
) -> list[CallRow]:
    """The test callers' call rows that started at or after `since` (aware)."""
    records = await conn.fetch(_QUERY, sorted(set(callers)), since, timeout=timeout)
    return [
        CallRow(
            linkedid=r["linkedid"],
            caller=r["caller"],
            dialled=r["dialled"],
            started_at=r["started_at"],
            category=r["category"],
            destination=_json(r["destination"]),
            language=r["language"],
            after_hours=bool(r["after_hours"]),
            holiday=bool(r["holiday"]),
            urgent=bool(r["urgent"]),
            patient_id=r["patient_id"],
        )
        for r in records
        if r["started_at"] is not None
    ]


def _json(value: Any) -> dict[str, Any] | None:
    """asyncpg returns jsonb as text unless a codec is set."""
    if value is None:
        return None
    parsed = json.loads(value) if isinstance(value, str) else value
    return parsed if isinstance(parsed, dict) else None
