"""Reading the `calls` rows a report needs (one parameterised query).

Each row brings what its call's events and dispositions say about transfers and
misrouting (docs/reports.md), looked up per call through the `call_events (linkedid, at)`
and `dispositions (linkedid)` indexes, and only for calls whose row says there is
something to find (`transferred`, `disposition`): the query stays bounded by the range.

`sites`: the sites whose calls count (docs/scale.md "Several sites"); None: every site.
"""

from __future__ import annotations

from collections.abc import Sequence
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
WHERE c.started_at >= $1 AND c.started_at < $2 AND ($3::text[] IS NULL OR c.site = ANY($3))
ORDER BY c.started_at, c.linkedid
"""


async def load_rows(
    conn: db.Connection,
    start: datetime,
    end: datetime,
    *,
    timeout: float | None = 30.0,
    sites: Sequence[str] | None = None,
) -> list[CallRow]:
    """Calls that started in `[start, end)` (aware datetimes). For first-contact resolution
    pass `end + metrics.FCR_WINDOW`: `compute` only measures `[start, end)` itself."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    records = await conn.fetch(_QUERY, start, end, _sites(sites), timeout=timeout)
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
SELECT site, agent, at, state, reason FROM (
    SELECT id, site, agent, at, state, reason FROM agent_state_changes
    WHERE at >= $1 AND at < $2 AND ($3::text[] IS NULL OR site = ANY($3))
    UNION ALL
    (SELECT DISTINCT ON (site, agent) id, site, agent, at, state, reason FROM agent_state_changes
     WHERE at < $1 AND ($3::text[] IS NULL OR site = ANY($3)) ORDER BY site, agent, at DESC, id DESC)
) s
ORDER BY site, agent, at, id
"""


async def load_agent_states(
    conn: db.Connection,
    start: datetime,
    end: datetime,
    *,
    timeout: float | None = 30.0,
    sites: Sequence[str] | None = None,
) -> list[StateRow]:
    """The agent state rows of `[start, end)` and each agent's last one before `start`
    (the state they were in when the range began), in order: for `pauses.pause_time`.
    When the rows span several sites an agent is `site/extension` (2001 may exist at
    each)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    records = await conn.fetch(_AGENT_STATES, start, end, _sites(sites), timeout=timeout)
    one_site = len({r["site"] for r in records}) <= 1
    return [
        StateRow(r["agent"] if one_site else f"{r['site']}/{r['agent']}", r["at"], r["state"],
                 r["reason"])
        for r in records
    ]  # fmt: skip


def _sites(sites: Sequence[str] | None) -> list[str] | None:
    return None if sites is None else list(sites)
