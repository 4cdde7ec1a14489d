"""A schema of its own on the test PostgreSQL, for tests (and faults/) that need one.

`FRONTDESK_TEST_PG_DSN` (default `postgresql://postgres@127.0.0.1:5432/test`). When the
variable is unset and the server is not there, the test is skipped and says so; when it
is set, an unreachable server is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN = os.environ.get("FRONTDESK_TEST_PG_DSN", DEFAULT_DSN)


def dsn_in(schema: str) -> str:
    """The test server's DSN with `search_path` set to `schema` (for daemons and pools)."""
    return f"{DSN}{'&' if '?' in DSN else '?'}options=-csearch_path%3D{schema}"


@contextlib.asynccontextmanager
async def scratch_schema(prefix: str) -> AsyncIterator[str]:
    """A new schema named `<prefix>_<random>`, dropped afterwards."""
    try:
        admin = await asyncpg.connect(DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if "FRONTDESK_TEST_PG_DSN" in os.environ:
            pytest.fail(f"PostgreSQL at FRONTDESK_TEST_PG_DSN is unreachable: {exc!r}")
        pytest.skip(f"no PostgreSQL at {DSN} (set FRONTDESK_TEST_PG_DSN): {exc!r}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        await _drop(admin, name)
        await admin.close()


async def _drop(admin: asyncpg.Connection, name: str) -> None:
    """Drop the schema; a killed daemon's backend may still hold its locks for a moment
    (PostgreSQL then reports a deadlock with the DROP): try again."""
    for attempt in range(20):
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            return
        except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError):
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
