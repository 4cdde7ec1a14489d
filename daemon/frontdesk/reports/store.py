"""Reading the `calls` rows a report needs (one parameterised query).

Each row brings what its call's events and dispositions say about transfers and
misrouting (docs/reports.md), looked up per call through the `call_events (linkedid, at)`
and `dispositions (linkedid)` indexes, and only for calls whose row says there is
something to find (`transferred`, `disposition`): the query stays bounded by the range.
"""

from __future__ import annotations

from datetime import datetime

from frontdesk.reports.metrics import CallRow
from frontdesk.reports.pauses import StateRow
from frontdesk.store import db

_QUERY = """
SELECT c.linkedid, c.started_at, c.caller, c.category, c.queue, c.agent, c.answered_at,
       c.wait_s, c.talk_s, c.after_hours, c.urgent, c.voicemail, c.abandoned, c.transferred,
       c.outcome,
       coalesce(t.phone_transfers, 0) AS phone_transfers,
       coalesce(t.staff_transfers, 0) AS staff_transfers,
       coalesce(t.moved, false) AS moved,
       coalesce(d.wrong_department, false) AS wrong_department
FROM calls c
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE e.kind = 'transferred') AS phone_transfers,
           count(*) FILTER (WHERE e.kind = 'staff_transfer') AS staff_transfers,
           bool_or(e.kind = 'staff_transfer' AND e.data -> 'misrouted' = 'true'::jsonb) AS moved
    FROM call_events e
    WHERE c.transferred AND e.linkedid = c.linkedid
      AND e.kind IN ('transferred', 'staff_transfer')
) t ON true
LEFT JOIN LATERAL (
    -- each agent's last word on the call: a corrected disposition no longer counts
    SELECT bool_or(last.code = 'wrong_department') AS wrong_department
    FROM (SELECT DISTINCT ON (agent) code
          FROM dispositions
          WHERE c.disposition IS NOT NULL AND linkedid = c.linkedid
          ORDER BY agent, at DESC, id DESC) last
) d ON true
WHERE c.started_at >= $1 AND c.started_at < $2
ORDER BY c.started_at, c.linkedid
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
            phone_transfers=r["phone_transfers"],
            staff_transfers=r["staff_transfers"],
            moved=r["moved"],
            wrong_department=r["wrong_department"],
        )
        for r in records
    ]


_AGENT_STATES = """
SELECT agent, at, state, reason FROM (
    SELECT id, agent, at, state, reason FROM agent_state_changes
    WHERE at >= $1 AND at < $2
    UNION ALL
    (SELECT DISTINCT ON (agent) id, agent, at, state, reason FROM agent_state_changes
     WHERE at < $1 ORDER BY agent, at DESC, id DESC)
) s
ORDER BY agent, at, id
"""


async def load_agent_states(
    conn: db.Connection, start: datetime, end: datetime, *, timeout: float | None = 30.0
) -> list[StateRow]:
    """The agent state rows of `[start, end)` and each agent's last one before `start`
    (the state they were in when the range began), in order: for `pauses.pause_time`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    records = await conn.fetch(_AGENT_STATES, start, end, timeout=timeout)
    return [StateRow(r["agent"], r["at"], r["state"], r["reason"]) for r in records]
