"""The example plan with a `golive` section declaring four test callers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.plan import Plan, load_plan
from frontdesk.store import db, upgrade
from tests.conftest import reference_text

DSN = os.environ.get("FRONTDESK_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

TEST_CALLERS = ("+13125559901", "+13125559902", "+13125559903", "+13125559904")


def with_test_callers(callers: tuple[str, ...] = TEST_CALLERS) -> str:
    listed = ", ".join(f'"{n}"' for n in callers)
    return reference_text() + f"\ngolive:\n  test_callers: [{listed}]\n"


@pytest.fixture
def golive_plan(write_plan: Callable[[str], Path]) -> Plan:
    return load_plan(write_plan(with_test_callers()))


@pytest.fixture
async def schema_dsn() -> AsyncIterator[str]:
    """A fresh, migrated schema of the test PostgreSQL, as a DSN (search_path set)."""
    name = f"fd_golive_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if "FRONTDESK_TEST_PG_DSN" in os.environ:
            pytest.fail(f"PostgreSQL unreachable: {exc!r}")
        pytest.skip(f"no PostgreSQL at {DSN}")
    await admin.execute(f'CREATE SCHEMA "{name}"')
    dsn = f"{DSN}{'&' if '?' in DSN else '?'}options=-csearch_path%3D{name}"
    try:
        conn = await db.connect(dsn, timeout=5)
        try:
            await upgrade(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.close()
