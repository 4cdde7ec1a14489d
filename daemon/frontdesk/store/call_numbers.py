"""The number a patient called from, read back to return their call (bounded)."""

from __future__ import annotations

import asyncio

from frontdesk.store import db

_CALLER = "SELECT caller FROM calls WHERE linkedid = $1"


async def caller_number(pool: db.Pool, linkedid: str, *, timeout: float = 1.0) -> str | None:
    """The caller's E.164 number of call `linkedid`; None when unknown or withheld."""
    async with asyncio.timeout(timeout), pool.acquire() as conn:
        value = await conn.fetchval(_CALLER, linkedid)
    return value if isinstance(value, str) and value.startswith("+") else None
