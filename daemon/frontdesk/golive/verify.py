"""`frontdesk golive verify`: does each go-live call's row say what the case expects?

Matching. Each scenario call sends its case id (`X-Frontdesk-Case: <run id>:<number>`);
in go-live mode the daemon records it for a declared test caller as a `golive_case`
call event, and a case takes the row carrying its id (the latest, if the call was
retried: the earlier ones are surplus). So calls may run side by side, in any order.
Rows carrying another run's id are not this run's (surplus within `--since`, ignored
without). The fallback, for rows without an id (a daemon that did not record it, a
header read that timed out), is the order: the k-th such row of a (caller, DID) pair,
by `started_at`, is the k-th case of that pair still unmatched. Rows come from
`--since` on (default: the `started_at.txt` that `run.sh` writes), else all of them and
the most recent of each pair. A missing call shows as "no call row"; a surplus is
reported.

Checks per case: route kind, destination (queue and skills, box, or transfer target),
category, language, after hours, holiday, urgent, and whether the caller was a known
patient (an "unknown" test caller found in the directory would route differently).
A case routed to a queue must also have stayed there: an `after_hours` event means the
ACD found the queue closed and sent the caller on (it judges a test call at its routed
time, so that happens only when the queue really closed during the call).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.golive.cases import Case, Expected, case_tag
from frontdesk.golive.sipp import destination_text
from frontdesk.store import db

CASE_EVENT = "golive_case"  # the call event the daemon records a case id in (data.case)
AFTER_HOURS_EVENT = "after_hours"  # the ACD sent a queued caller on (calls/events.py)
BY_CASE = "case"
BY_ORDER = "order"


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
    case_id: str | None = None  # the X-Frontdesk-Case the daemon recorded
    sent_after_hours: bool = False  # the ACD sent the queued caller to after hours


@dataclass(frozen=True)
class Verdict:
    case: Case
    row: CallRow | None
    problems: tuple[str, ...]
    matched_by: str | None = None  # BY_CASE | BY_ORDER; None: no row

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case.number,
            "id": self.case.id,
            "passed": self.passed,
            "linkedid": self.row.linkedid if self.row else None,
            "matched_by": self.matched_by,
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

    def matched(self, by: str) -> int:
        return sum(v.matched_by == by for v in self.verdicts)

    def as_json(self) -> dict[str, Any]:
        failed = [v for v in self.verdicts if not v.passed]
        return {
            "passed": self.passed,
            "cases": len(self.verdicts),
            "failed": len(failed),
            "matched_by_case": self.matched(BY_CASE),
            "matched_by_order": self.matched(BY_ORDER),
            "surplus_rows": [r.linkedid for r in self.surplus],
            "verdicts": [v.as_json() for v in self.verdicts],
        }


def match(
    cases: Iterable[Case], rows: Iterable[CallRow], *, latest: bool, run: str = ""
) -> Outcome:
    """Pair cases with rows: by the case id of `run` first, then per (caller, DID) in
    order; `latest`: rows are not bounded by `--since` (earlier runs are in them)."""
    ordered = sorted(cases, key=lambda c: c.number)
    tags = {case_tag(run, c) for c in ordered} if run else set()
    tagged: dict[str, list[CallRow]] = defaultdict(list)
    untagged: list[CallRow] = []
    surplus: list[CallRow] = []
    for row in sorted(rows, key=lambda r: (r.started_at, r.linkedid)):
        if row.case_id is None or not run:  # (a run written before case ids: order)
            untagged.append(row)
        elif row.case_id in tags:
            tagged[row.case_id].append(row)
        elif not latest:
            surplus.append(row)  # another run's call, within --since
    verdicts: list[Verdict] = []
    rest: list[Case] = []
    for case in ordered:
        found = tagged.get(case_tag(run, case)) if run else None
        if found:
            surplus += found[:-1]  # retried: the last call is the one that counts
            verdicts.append(
                Verdict(case, found[-1], tuple(compare(case.expected, found[-1])), BY_CASE)
            )
        else:
            rest.append(case)
    order_verdicts, order_surplus, unclaimed = _match_in_order(rest, untagged, latest=latest)
    verdicts += order_verdicts
    surplus += order_surplus
    if not latest:  # (without --since, they may well be older calls)
        callers = {c.caller for c in ordered}
        surplus += [r for r in unclaimed if r.caller in callers]
    verdicts.sort(key=lambda v: v.case.number)
    return Outcome(verdicts, sorted(surplus, key=lambda r: r.started_at))


def _match_in_order(
    cases: list[Case], rows: list[CallRow], *, latest: bool
) -> tuple[list[Verdict], list[CallRow], list[CallRow]]:
    """The k-th row of a (caller, DID) pair is the k-th case of that pair; `latest`: the
    pair's last rows. Returns the verdicts, the pairs' extra rows, and the rows of pairs
    no case has."""
    by_pair: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        by_pair[case.caller, case.did].append(case)
    rows_by_pair: dict[tuple[str | None, str | None], list[CallRow]] = defaultdict(list)
    for row in rows:
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
            by = BY_ORDER if paired is not None else None
            verdicts.append(Verdict(case, paired, tuple(compare(case.expected, paired)), by))
    return verdicts, surplus, [r for rs in rows_by_pair.values() for r in rs]


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
    if expected.route == "queue" and row.sent_after_hours:
        problems.append("the ACD found its queue closed and sent it to after hours")
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
SELECT c.linkedid, c.caller, c.dialled, c.started_at, c.category, c.destination,
       c.language, c.after_hours, c.holiday, c.urgent, c.patient_id,
       (SELECT e.data->>'case' FROM call_events AS e
        WHERE e.linkedid = c.linkedid AND e.kind = $3
        ORDER BY e.at DESC, e.id DESC LIMIT 1) AS case_id,
       EXISTS (SELECT 1 FROM call_events AS e
               WHERE e.linkedid = c.linkedid AND e.kind = $4) AS sent_after_hours
FROM calls AS c
WHERE c.caller = ANY($1::text[]) AND c.started_at >= $2
ORDER BY c.started_at, c.linkedid
"""


async def load_rows(
    conn: db.Connection, callers: Iterable[str], since: datetime, *, timeout: float = 30.0
) -> list[CallRow]:
    """The test callers' call rows that started at or after `since` (aware), each with
    the case id the daemon recorded for it, if any."""
    records = await conn.fetch(
        _QUERY, sorted(set(callers)), since, CASE_EVENT, AFTER_HOURS_EVENT, timeout=timeout
    )
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
            case_id=r["case_id"],
            sent_after_hours=bool(r["sent_after_hours"]),
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
