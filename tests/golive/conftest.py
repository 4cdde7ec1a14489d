"""The example plan with a `golive` section declaring four test callers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from frontdesk.plan import Plan, load_plan
from frontdesk.store import db, upgrade
from tests.conftest import reference_text
from tests.pg import dsn_in, scratch_schema

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
    async with scratch_schema("fd_golive") as name:
        dsn = dsn_in(name)
        conn = await db.connect(dsn, timeout=5)
        try:
            await upgrade(conn)
        finally:
            await conn.close()
        yield dsn
