from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import MigrationError, upgrade
from frontdesk.store.migrations import Migration, available

TABLES = {
    "schema_migrations",
    "calls",
    "call_events",
    "call_upserts_applied",
    "callbacks",
    "voicemails",
    "agent_state_changes",
    "dispositions",
    "patients",
    "audit_log",
    "staff_accounts",
    "pending_callbacks",
    "agent_presence",
    "staff_sessions",
    "active_daemons",
    "site_boards",
}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {r["table_name"] for r in rows}


async def test_from_empty_then_idempotent(conn: asyncpg.Connection) -> None:
    assert await tables(conn) == set()
    assert await upgrade(conn) == [m.version for m in available()]
    assert await tables(conn) == TABLES
    versions = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in versions] == [
        (m.version, m.name) for m in available()
    ]
    assert versions[0]["name"] == "initial"
    assert await upgrade(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(available())


async def test_concurrent_upgrades_through_a_pool_apply_once(pg_dsn: str, schema: str) -> None:
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    try:
        results = await asyncio.gather(*(upgrade(pool) for _ in range(4)))
        assert sorted(results) == [[], [], [], [m.version for m in available()]]
        async with pool.acquire() as conn:
            count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
            assert count == len(available())
    finally:
        await pool.close()


async def test_a_new_migration_is_applied_and_a_changed_one_refused(
    conn: asyncpg.Connection,
) -> None:
    shipped = available()
    await upgrade(conn, migrations=shipped)
    extra = Migration(9001, "extra", "CREATE TABLE extra (id int)")
    assert await upgrade(conn, migrations=[*shipped, extra]) == [9001]
    changed = Migration(9001, "extra", "CREATE TABLE extra (id bigint)")
    with pytest.raises(MigrationError, match="changed"):
        await upgrade(conn, migrations=[*shipped, changed])


async def test_a_failing_migration_leaves_nothing_behind(conn: asyncpg.Connection) -> None:
    broken = Migration(1, "broken", "CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.PostgresError):
        await upgrade(conn, migrations=[broken])
    assert await tables(conn) == {"schema_migrations"}
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    # the advisory lock was released: a normal upgrade goes through
    assert await upgrade(conn) == [m.version for m in available()]


async def test_audit_log_is_append_only(conn: asyncpg.Connection) -> None:
    await upgrade(conn)
    await conn.execute(
        "INSERT INTO audit_log (entry_key, at, actor, action) VALUES ('k1', now(), 'system', 'x')"
    )
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await conn.execute("UPDATE audit_log SET action = 'y'")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await conn.execute("DELETE FROM audit_log")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await conn.execute("TRUNCATE audit_log")
    assert await conn.fetchval("SELECT action FROM audit_log") == "x"


async def test_outcome_is_checked(conn: asyncpg.Connection) -> None:
    await upgrade(conn)
    await conn.execute("INSERT INTO calls (linkedid, outcome) VALUES ('a', NULL)")
    await conn.execute("INSERT INTO calls (linkedid, outcome) VALUES ('b', 'voicemail')")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO calls (linkedid, outcome) VALUES ('c', 'lost')")


async def test_report_indexes_exist(conn: asyncpg.Connection) -> None:
    await upgrade(conn)
    rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    names = {r["indexname"] for r in rows}
    assert {
        "calls_started_at_idx",
        "calls_queue_started_at_idx",
        "calls_category_idx",
        "call_events_linkedid_idx",
    } <= names
