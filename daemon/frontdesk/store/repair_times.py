"""`frontdesk db repair-times`: put back the call times a misread Cdr moved (issue 16).

Before issue 16 a Cdr's zone-less times were read in the practice's zone and overwrote
frontdesk's own: on a PBX in UTC with a practice in America/Chicago, `started_at`,
`answered_at` and `ended_at` were six hours late. frontdesk's own stamps of the same
moments are in `call_events` (by its UTC clock), written by calls/recorder.py with the
very value it put in the row, so the row's time is recomputed from them:

- `started_at`: the call's `started` event;
- `answered_at`: its last `answered` event (the recorder writes each answer; the last wins);
- `ended_at`: its last finishing event (`talk_ended`, `abandoned`, `voicemail`,
  `callback_task`, `interrupted`: calls/events.py `FINISHING`).

Only where both exist and differ: a time frontdesk never stamped (a call the dialplan
handled while frontdesk was down) is the Cdr's alone and stays. A dry run counts; `apply`
updates in one transaction, with the same statement, so what was counted is what changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from frontdesk.store.db import Connection

FINISHING_KINDS: Final = ("talk_ended", "abandoned", "voicemail", "callback_task", "interrupted")
COLUMNS: Final = ("started_at", "answered_at", "ended_at")

# Per call with events: what frontdesk stamped. Then the rows where a column differs.
_DIFFERENCES = """
WITH stamped AS (
    SELECT linkedid,
           min(at) FILTER (WHERE kind = 'started') AS started_at,
           max(at) FILTER (WHERE kind = 'answered') AS answered_at,
           max(at) FILTER (WHERE kind = ANY($1::text[])) AS ended_at
    FROM call_events
    WHERE kind = 'started' OR kind = 'answered' OR kind = ANY($1::text[])
    GROUP BY linkedid
), wrong AS (
    SELECT c.linkedid,
           CASE WHEN c.started_at <> s.started_at THEN s.started_at END AS started_at,
           CASE WHEN c.answered_at <> s.answered_at THEN s.answered_at END AS answered_at,
           CASE WHEN c.ended_at <> s.ended_at THEN s.ended_at END AS ended_at,
           greatest(abs(extract(epoch FROM c.started_at - s.started_at)),
                    abs(extract(epoch FROM c.answered_at - s.answered_at)),
                    abs(extract(epoch FROM c.ended_at - s.ended_at))) AS shift_s
    FROM calls AS c JOIN stamped AS s USING (linkedid)
    WHERE c.started_at <> s.started_at
       OR c.answered_at <> s.answered_at
       OR c.ended_at <> s.ended_at
)
"""

_COUNT = (
    _DIFFERENCES
    + """
SELECT count(*) AS calls,
       count(started_at) AS started_at,
       count(answered_at) AS answered_at,
       count(ended_at) AS ended_at,
       coalesce(max(shift_s), 0)::float8 AS max_shift_s
FROM wrong
"""
)

_APPLY = (
    _DIFFERENCES
    + """
UPDATE calls AS c
SET started_at = coalesce(w.started_at, c.started_at),
    answered_at = coalesce(w.answered_at, c.answered_at),
    ended_at = coalesce(w.ended_at, c.ended_at),
    updated_at = now()
FROM wrong AS w
WHERE c.linkedid = w.linkedid
"""
)


@dataclass(frozen=True)
class RepairReport:
    dry_run: bool
    calls: int  # rows that would change (dry run) or changed
    columns: dict[str, int]  # per column
    max_shift_s: float  # the largest difference found, in seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "calls": self.calls,
            "columns": dict(self.columns),
            "max_shift_s": self.max_shift_s,
        }


async def repair_times(conn: Connection, *, apply: bool = False) -> RepairReport:
    """Count (and with `apply`, fix) the rows whose times differ from their events."""
    async with conn.transaction():
        # One snapshot for the count and the update: what is reported is what changes.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        (row,) = await conn.fetch(_COUNT, list(FINISHING_KINDS))
        if apply and row["calls"]:
            status = await conn.execute(_APPLY, list(FINISHING_KINDS))
            if int(status.rsplit(" ", 1)[-1]) != row["calls"]:  # `UPDATE n`
                raise RuntimeError("the rows changed while counting; run it again")
    return RepairReport(
        dry_run=not apply,
        calls=int(row["calls"]),
        columns={name: int(row[name]) for name in COLUMNS},
        max_shift_s=float(row["max_shift_s"]),
    )
