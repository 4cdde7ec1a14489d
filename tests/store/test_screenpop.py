"""The screen-pop payload from PostgreSQL: patient, shared numbers, last call, outages."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest
from structlog.testing import capture_logs

from frontdesk.store import upgrade
from frontdesk.store.screenpop import ScreenPopSource

from .conftest import via

NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
ALICE = "+13125551002"
FAMILY = "+13125551050"


@pytest.fixture
async def migrated(conn: asyncpg.Connection) -> asyncpg.Connection:
    await upgrade(conn)
    await conn.executemany(
        "INSERT INTO patients (phone, patient_id, preferred_language, specialty, name)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (ALICE, "P-1002", "es", "cardiology", "Alicia Gómez"),
            (FAMILY, "P-2001", "en", "pediatrics", "Ben Doe"),
            (FAMILY, "P-2002", "en", "dermatology", "Cara Doe"),
        ],
    )
    await conn.executemany(
        "INSERT INTO calls (linkedid, caller, category, started_at, outcome)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            ("old", ALICE, "billing", NOW - timedelta(days=30), "answered"),
            ("last", ALICE, "appointments", NOW - timedelta(days=2), "abandoned"),
            ("current", ALICE, "clinical", NOW - timedelta(seconds=20), None),
            ("future", ALICE, "clinical", NOW + timedelta(hours=1), None),  # clock skew
            ("other", "+13125559999", "billing", NOW - timedelta(hours=1), "voicemail"),
        ],
    )
    return conn


@pytest.fixture
async def pool(pg_dsn: str, schema: str, migrated: asyncpg.Connection) -> AsyncIterator[object]:
    created = await asyncpg.create_pool(
        pg_dsn, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    try:
        yield created
    finally:
        await created.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_one_patient_with_name_and_last_call(pool: object) -> None:
    source = ScreenPopSource(pool, now=lambda: NOW)  # type: ignore[arg-type]
    pop = await source.build(ALICE, "es", "clinical", linkedid="current")
    assert pop == {
        "patient": {
            "patient_id": "P-1002",
            "name": "Alicia Gómez",
            "language": "es",
            "specialty": "cardiology",
            "shared": False,
        },
        "language": "es",
        "category": "clinical",
        "last_call": {
            "linkedid": "last",
            "started_at": (NOW - timedelta(days=2)).isoformat(),
            "outcome": "abandoned",
            "category": "appointments",
        },
        "degraded": False,
    }
    # without the current call's id, the current call is the latest before now
    pop = await source.build(ALICE, "es", "clinical")
    assert pop["last_call"]["linkedid"] == "current"
    assert pop["last_call"]["outcome"] is None


async def test_shared_number_gives_no_id_and_no_name(pool: object) -> None:
    source = ScreenPopSource(pool, now=lambda: NOW)  # type: ignore[arg-type]
    pop = await source.build(FAMILY, "en", "appointments", linkedid="x")
    assert pop["patient"] == {
        "patient_id": None,
        "name": None,
        "language": "en",  # agreed
        "specialty": None,  # not agreed
        "shared": True,
    }
    assert pop["last_call"] is None
    assert pop["degraded"] is False


async def test_unknown_and_withheld_callers(pool: object) -> None:
    source = ScreenPopSource(pool, now=lambda: NOW)  # type: ignore[arg-type]
    unknown = await source.build("+13125559999", "en", "billing", linkedid="x")
    assert unknown["patient"] is None
    assert unknown["last_call"]["outcome"] == "voicemail"
    withheld = await source.build(None, "en", "billing", linkedid="x")
    assert withheld == {
        "patient": None,
        "language": "en",
        "category": "billing",
        "last_call": None,
        "degraded": False,
    }


async def test_sql_in_a_number_is_just_data(pool: object) -> None:
    source = ScreenPopSource(pool)  # type: ignore[arg-type]
    pop = await source.build("'); DROP TABLE patients;--", "en", "billing")
    assert pop["patient"] is None
    assert pop["degraded"] is False
    assert (await source.build(ALICE, "es", "clinical"))["patient"]["patient_id"] == "P-1002"


async def test_unreachable_database_is_degraded_within_the_timeout(pg_dsn: str) -> None:
    pool = await asyncpg.create_pool(via(pg_dsn, closed_port()), min_size=0, max_size=1)
    try:
        source = ScreenPopSource(pool, timeout=0.25)
        with capture_logs() as logs:
            started = time.monotonic()
            pop = await source.build(ALICE, "es", "clinical", linkedid="c1")
            assert time.monotonic() - started < 0.5
            again = await source.build(ALICE, "es", "clinical", linkedid="c2")
        assert (
            pop
            == again
            == {
                "patient": None,
                "language": "es",
                "category": "clinical",
                "last_call": None,
                "degraded": True,
            }
        )
        assert not source.available
        assert [e["event"] for e in logs] == ["store.screenpop_unavailable"]  # once per outage
        assert logs[0]["caller"] == "+*******1002"
        assert "5551002" not in repr(logs)
    finally:
        await pool.close()


async def test_stalled_database_is_degraded_within_the_timeout(
    pg_dsn: str, schema: str, migrated: asyncpg.Connection, proxy: object
) -> None:
    from .conftest import TcpProxy

    assert isinstance(proxy, TcpProxy)
    pool = await asyncpg.create_pool(
        via(pg_dsn, proxy.port), min_size=1, max_size=1, server_settings={"search_path": schema}
    )
    try:
        source = ScreenPopSource(pool, timeout=0.25, now=lambda: NOW)
        with capture_logs() as logs:
            assert (await source.build(ALICE, "es", "clinical"))["patient"] is not None
            proxy.stall()
            started = time.monotonic()
            pop = await source.build(ALICE, "es", "clinical")
            assert time.monotonic() - started < 0.6
        assert pop["degraded"] is True
        assert pop["patient"] is None
        assert "Alicia" not in repr(logs)
    finally:
        pool.terminate()


async def test_unmigrated_schema_is_degraded(pg_dsn: str, schema: str) -> None:
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=0, max_size=1, server_settings={"search_path": schema}
    )
    try:
        pop = await ScreenPopSource(pool).build(ALICE, "es", "clinical")
        assert pop["degraded"] is True
    finally:
        await pool.close()
