"""What the live board needs from the call records after a restart.

The board's alerts and today's service level live in memory (web/board.py); a restart
would empty a nurse's list of patients to call back. At start the daemon reads:
- `open_alerts`: the alert events of the last days (`call_events` of the kinds the board
  names: escalations, callback tasks, voicemail messages) that nobody acknowledged
  (`audit_log`, action `alert_acknowledged`), oldest first, as rows; the board makes
  facts of them again (calls/events.py's `from_record`);
- `alert_claims`: who claimed which callback task or voicemail message (`audit_log`,
  `alert_claimed`, unless a later `alert_released`), so the claims come back too;
- `queue_outcomes`: today's answered and abandoned queue calls (`calls`), for the service
  level.
Both are bounded by a timeout and a row limit; on any database error the board starts
empty rather than late (the caller decides; these functions raise).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from frontdesk.store.db import CURRENT_SITE, Connection

MAX_ROWS = 500

_OPEN_ALERTS = f"""
SELECT e.linkedid, e.kind, e.at, e.data::text AS data
FROM call_events AS e
WHERE e.at >= $1 AND e.kind = ANY($2::text[]) AND e.site = {CURRENT_SITE}
  AND NOT EXISTS (
    SELECT 1 FROM audit_log AS a
    WHERE a.action = 'alert_acknowledged' AND a.subject = e.linkedid
      AND a.data->>'kind' = e.kind
  )
ORDER BY e.at DESC
LIMIT $3
"""

_ALERT_CLAIMS = f"""
SELECT DISTINCT ON (a.subject, a.data->>'kind')
       a.subject AS linkedid, a.data->>'kind' AS kind, a.action, a.actor, a.at
FROM audit_log AS a
WHERE a.at >= $1 AND a.action IN ('alert_claimed', 'alert_released') AND a.site = {CURRENT_SITE}
  AND a.data->>'kind' = ANY($2::text[]) AND a.subject IS NOT NULL
ORDER BY a.subject, a.data->>'kind', a.at DESC, a.id DESC
LIMIT $3
"""

_QUEUE_OUTCOMES = f"""
SELECT queue, wait_s, answered_at IS NOT NULL AS answered
FROM calls
WHERE site = {CURRENT_SITE} AND started_at >= $1 AND queue IS NOT NULL
  AND (answered_at IS NOT NULL OR abandoned)
LIMIT 100000
"""


async def open_alerts(
    conn: Connection, since: datetime, kinds: Iterable[str], *, timeout: float = 5.0
) -> list[tuple[datetime, str, str, object]]:
    """Unacknowledged events of `kinds` since `since`, oldest first, as (time, linkedid,
    kind, data): `data` as stored (JSON; a dict unless the row is damaged)."""
    rows = await conn.fetch(_OPEN_ALERTS, since, list(kinds), MAX_ROWS, timeout=timeout)
    return [
        (row["at"], row["linkedid"], row["kind"], json.loads(row["data"]) if row["data"] else {})
        for row in reversed(rows)
    ]


async def alert_claims(
    conn: Connection, since: datetime, kinds: Iterable[str], *, timeout: float = 5.0
) -> list[tuple[str, str, str, datetime]]:
    """The standing claims made since `since` on alerts of `kinds`, as (linkedid, kind,
    username, time): each alert's newest claim, unless it was released after."""
    rows = await conn.fetch(_ALERT_CLAIMS, since, list(kinds), MAX_ROWS, timeout=timeout)
    return [
        (row["linkedid"], row["kind"], row["actor"].removeprefix("user:"), row["at"])
        for row in rows
        if row["action"] == "alert_claimed" and row["actor"].startswith("user:")
    ]


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
