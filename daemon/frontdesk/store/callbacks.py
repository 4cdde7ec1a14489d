"""Pending callbacks across restarts: what the outbox wrote to `pending_callbacks`, read back.

The runtime writes a `PendingCallback` record through the outbox when a callback is
accepted and at each change (see `calls/queues.py`); at start the daemon waits until the
outbox has replayed its spool, so the table is complete, then reads the pending ones.
"""

from __future__ import annotations

from typing import cast

from frontdesk.store.db import CURRENT_SITE, Connection, Pool
from frontdesk.store.records import PendingCallback

_PENDING = (  # this site's only: another site's daemon calls its own back
    "SELECT call_id, revision, status, queue, priority, skill, language_skill, category,"
    " language, number, enqueued_at, attempts, retry_at, escalated, updated_at AS at"
    f" FROM pending_callbacks WHERE status = 'pending' AND site = {CURRENT_SITE}"
    " ORDER BY priority = 'normal', enqueued_at, call_id"
)


async def load_pending_callbacks(db: Connection | Pool) -> list[PendingCallback]:
    """The callbacks still pending, in queue order (front first, then the longest waiting)."""
    if not hasattr(db, "acquire"):  # a connection, not a pool
        rows = await db.fetch(_PENDING, timeout=5.0)
    else:
        async with cast(Pool, db).acquire() as conn:
            rows = await conn.fetch(_PENDING, timeout=5.0)
    return [PendingCallback(**dict(row)) for row in rows]
