"""Logins and pauses across restarts: what the outbox wrote to `agent_presence`, read back.

The recorder writes an `AgentPresence` record through the outbox at each login, logout,
pause and unpause (calls/recorder.py); at start the daemon waits until the outbox has
replayed its spool, so the table is complete, then reads every agent's last state here
and gives it to the ACD before calls are taken (daemon.py).
"""

from __future__ import annotations

from typing import cast

from frontdesk.store.db import CURRENT_SITE, Connection, Pool
from frontdesk.store.records import AgentPresence

_ALL = (  # this site's agents only: extension 2001 may exist at another site
    "SELECT agent, revision, logged_in, paused, pause_reason, changed_at AS at"
    f" FROM agent_presence WHERE site = {CURRENT_SITE} ORDER BY agent"
)


async def load_agent_presence(
    db: Connection | Pool, *, timeout: float = 5.0
) -> dict[str, AgentPresence]:
    """Each extension's stored presence (an extension never stored is absent)."""
    if not hasattr(db, "acquire"):  # a connection, not a pool
        rows = await db.fetch(_ALL, timeout=timeout)
    else:
        async with cast(Pool, db).acquire() as conn:
            rows = await conn.fetch(_ALL, timeout=timeout)
    return {row["agent"]: AgentPresence(**dict(row)) for row in rows}
