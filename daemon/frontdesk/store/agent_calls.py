"""An agent's own calls of the day, for the agent page (bounded by a row limit and a timeout).

`calls_since(conn, agent, since)`: the `calls` rows the agent (`calls.agent`, the
extension that took the call) had since `since` (the practice's local midnight), newest
first, at most `limit`. The caller's number is returned as stored; the web layer masks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.store.db import CURRENT_SITE, Connection

MAX_ROWS = 200

_CALLS = f"""
SELECT linkedid, started_at, answered_at, caller, queue, category, outcome, talk_s,
       disposition
FROM calls
WHERE site = {CURRENT_SITE} AND agent = $1 AND started_at >= $2
ORDER BY started_at DESC
LIMIT $3
"""


@dataclass(frozen=True)
class AgentCall:
    linkedid: str
    started_at: datetime
    answered_at: datetime | None
    caller: str | None
    queue: str | None
    category: str | None
    outcome: str | None
    talk_s: int | None
    disposition: str | None


async def calls_since(
    conn: Connection,
    agent: str,
    since: datetime,
    *,
    limit: int = MAX_ROWS,
    timeout: float = 2.0,
) -> list[AgentCall]:
    rows = await conn.fetch(_CALLS, agent, since, min(limit, MAX_ROWS), timeout=timeout)
    return [
        AgentCall(
            linkedid=row["linkedid"],
            started_at=row["started_at"],
            answered_at=row["answered_at"],
            caller=row["caller"],
            queue=row["queue"],
            category=row["category"],
            outcome=row["outcome"],
            talk_s=row["talk_s"],
            disposition=row["disposition"],
        )
        for row in rows
    ]
