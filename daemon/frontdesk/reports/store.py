"""Reading the `calls` rows a report needs (one parameterised query)."""

from __future__ import annotations

from datetime import datetime

from frontdesk.reports.metrics import CallRow
from frontdesk.store import db

_QUERY = """
SELECT linkedid, started_at, caller, category, queue, agent, answered_at, wait_s, talk_s,
       after_hours, urgent, voicemail, abandoned, transferred, outcome
FROM calls
WHERE started_at >= $1 AND started_at < $2
ORDER BY started_at, linkedid
"""


async def load_rows(
    conn: db.Connection, start: datetime, end: datetime, *, timeout: float | None = 30.0
) -> list[CallRow]:
    """Calls that started in `[start, end)` (aware datetimes). For first-contact resolution
    pass `end + metrics.FCR_WINDOW`: `compute` only measures `[start, end)` itself."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    records = await conn.fetch(_QUERY, start, end, timeout=timeout)
    return [
        CallRow(
            linkedid=r["linkedid"],
            started_at=r["started_at"],
            caller=r["caller"],
            category=r["category"],
            queue=r["queue"],
            agent=r["agent"],
            answered_at=r["answered_at"],
            wait_s=r["wait_s"],
            talk_s=r["talk_s"],
            after_hours=r["after_hours"],
            urgent=r["urgent"],
            voicemail=r["voicemail"],
            abandoned=r["abandoned"],
            transferred=r["transferred"],
            outcome=r["outcome"],
        )
        for r in records
    ]
