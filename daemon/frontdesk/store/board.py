"""What the live board needs from the call records after a restart.

The board's alerts and today's service level live in memory (web/board.py); a restart
would empty a nurse's list of patients to call back. At start the daemon reads:
- `open_alerts`: escalations, callback tasks and voicemail messages of the last days
  (`call_events`) that nobody acknowledged (`audit_log`, action `alert_acknowledged`),
  oldest first, as the hub events they were;
- `queue_outcomes`: today's answered and abandoned queue calls (`calls`), for the service
  level.
Both are bounded by a timeout and a row limit; on any database error the board starts
empty rather than late (the caller decides; these functions raise).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from frontdesk.store.db import Connection

ALERT_KINDS = ("escalation", "callback_task", "voicemail")
MAX_ROWS = 500

_OPEN_ALERTS = """
SELECT e.linkedid, e.kind, e.at, e.data::text AS data
FROM call_events AS e
WHERE e.at >= $1 AND e.kind = ANY($2::text[])
  AND NOT EXISTS (
    SELECT 1 FROM audit_log AS a
    WHERE a.action = 'alert_acknowledged' AND a.subject = e.linkedid
      AND a.data->>'kind' = e.kind
  )
ORDER BY e.at DESC
LIMIT $3
"""

_QUEUE_OUTCOMES = """
SELECT queue, wait_s, answered_at IS NOT NULL AS answered
FROM calls
WHERE started_at >= $1 AND queue IS NOT NULL
  AND (answered_at IS NOT NULL OR abandoned)
LIMIT 100000
"""


async def open_alerts(
    conn: Connection, since: datetime, *, timeout: float = 5.0
) -> list[tuple[datetime, dict[str, Any]]]:
    """Unacknowledged alerts since `since`, oldest first, as (time, hub event)."""
    rows = await conn.fetch(_OPEN_ALERTS, since, list(ALERT_KINDS), MAX_ROWS, timeout=timeout)
    found = []
    for row in reversed(rows):
        data = json.loads(row["data"]) if row["data"] else {}
        event = {**(data if isinstance(data, dict) else {}), "kind": row["kind"]}
        event["call"] = row["linkedid"]
        found.append((row["at"], event))
    return found


async def queue_outcomes(
    conn: Connection, since: datetime, *, timeout: float = 5.0
) -> list[tuple[str, timedelta | None, bool]]:
    """(queue, wait, answered) of the queue calls answered or abandoned since `since`."""
    rows = await conn.fetch(_QUEUE_OUTCOMES, since, timeout=timeout)
    return [
        (
            row["queue"],
            None if row["wait_s"] is None else timedelta(seconds=row["wait_s"]),
            bool(row["answered"]),
        )
        for row in rows
    ]
