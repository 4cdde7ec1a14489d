"""The patient directory in PostgreSQL: the CSV import and the caller lookup."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from structlog.testing import capture_logs

from frontdesk.routing.directory import DirectoryError, Patient, RejectedRow
from frontdesk.store import upgrade
from frontdesk.store.directory import PatientLookup, import_directory

from .conftest import via

EXAMPLE = Path(str(resources.files("frontdesk") / "examples" / "directory.csv"))
HEADER = "phone,patient_id,preferred_language,specialty\n"
INJECTION = "'); DROP TABLE patients;--"


@pytest.fixture
async def migrated(conn: asyncpg.Connection) -> asyncpg.Connection:
    await upgrade(conn)
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


def write_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "directory.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


async def patients(conn: asyncpg.Connection) -> dict[tuple[str, str], tuple[str, str]]:
    rows = await conn.fetch("SELECT phone, patient_id, preferred_language, specialty FROM patients")
    return {(r["phone"], r["patient_id"]): (r["preferred_language"], r["specialty"]) for r in rows}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_reference_directory_imports_then_reimports_unchanged(
    migrated: asyncpg.Connection,
) -> None:
    report = await import_directory(migrated, EXAMPLE)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (7, 7, 0, 0)
    assert report.rejected == ()
    stored = await patients(migrated)
    assert len(stored) == 7
    assert stored["+13125551007", "P-1007"] == ("es", "orthopedics")
    assert stored["+13125551004", "P-1004"] == ("es", None)

    again = await import_directory(migrated, EXAMPLE)
    assert (again.rows, again.inserted, again.updated, again.unchanged) == (7, 0, 0, 7)
    assert again.kept == 0
    assert again.as_json()["unchanged"] == 7


async def test_changes_update_and_missing_patients_are_kept(
    migrated: asyncpg.Connection, tmp_path: Path
) -> None:
    await import_directory(migrated, EXAMPLE)
    changed = write_csv(
        tmp_path,
        "+13125551001,P-1001,fr,cardiology\n"  # language changed
        "+13125551002,P-1002,es,cardiology\n"  # unchanged
        "+13125551099,P-1099,en,\n",  # new
    )
    report = await import_directory(migrated, changed)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
    assert report.kept == 5  # in the table, no longer in the file: not deleted
    stored = await patients(migrated)
    assert len(stored) == 8
    assert stored["+13125551001", "P-1001"] == ("fr", "cardiology")


async def test_malformed_rows_are_reported_with_line_numbers(
    migrated: asyncpg.Connection, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "+13125551001,P-1001,en,cardiology\n"  # line 2
        "not a number,P-2,en,\n"  # line 3
        "+13125551003,,en,\n"  # line 4
        f"{INJECTION},P-4,en,\n"  # line 5
        ",P-5,en,\n"  # line 6
        "(312) 555-1006,P-1006,FR,primary_care\n",  # line 7
    )
    with capture_logs() as logs:
        report = await import_directory(migrated, path)
    assert report.inserted == 2
    assert report.rejected == (
        RejectedRow(3, "phone number missing or malformed"),
        RejectedRow(4, "patient_id missing"),
        RejectedRow(5, "phone number missing or malformed"),
        RejectedRow(6, "phone number missing or malformed"),
    )
    assert set(await patients(migrated)) == {("+13125551001", "P-1001"), ("+13125551006", "P-1006")}
    assert "5551001" not in repr(logs)  # counts only, no numbers
    assert [e["event"] for e in logs] == ["store.directory_imported"]


async def test_sql_in_a_caller_id_is_just_data(migrated: asyncpg.Connection, pool: object) -> None:
    await import_directory(migrated, EXAMPLE)
    lookup = PatientLookup(pool)  # type: ignore[arg-type]
    assert await lookup.lookup(INJECTION) is None
    assert await migrated.fetchval("SELECT count(*) FROM patients") == 7
    assert lookup.available


async def test_missing_file_and_columns_are_directory_errors(
    migrated: asyncpg.Connection, tmp_path: Path
) -> None:
    with pytest.raises(DirectoryError, match="cannot read"):
        await import_directory(migrated, tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("number,id\n+13125551001,P-1\n", encoding="utf-8")
    with pytest.raises(DirectoryError, match="missing column"):
        await import_directory(migrated, bad)
    assert await migrated.fetchval("SELECT count(*) FROM patients") == 0


async def test_one_transaction_nothing_written_on_failure(
    migrated: asyncpg.Connection, tmp_path: Path
) -> None:
    await migrated.execute(
        "ALTER TABLE patients ADD CONSTRAINT short_lang CHECK (length(preferred_language) < 3)"
    )
    path = write_csv(tmp_path, "+13125551001,P-1001,en,\n+13125551002,P-1002,eng,\n")
    with pytest.raises(asyncpg.CheckViolationError):
        await import_directory(migrated, path)
    assert await migrated.fetchval("SELECT count(*) FROM patients") == 0


async def test_lookup_finds_a_patient_and_a_shared_number(
    migrated: asyncpg.Connection, pool: object, tmp_path: Path
) -> None:
    await import_directory(migrated, EXAMPLE)
    family = write_csv(
        tmp_path,
        "+13125552000,P-2001,es,pediatrics\n"
        "+13125552000,P-2002,es,cardiology\n"
        "+13125552000,P-2002,es,cardiology\n",  # the same patient twice: stored once
    )
    report = await import_directory(migrated, family)
    assert (report.rows, report.inserted) == (2, 2)
    lookup = PatientLookup(pool)  # type: ignore[arg-type]
    assert await lookup.lookup("+13125551002") == Patient("P-1002", "es", "cardiology")
    assert await lookup.lookup("+13125552000") == Patient(None, "es", None)
    assert await lookup.lookup("+13125559999") is None
    assert await lookup.lookup(None) is None


async def test_lookup_on_an_unreachable_database_is_an_unknown_caller(pg_dsn: str) -> None:
    pool = await asyncpg.create_pool(via(pg_dsn, closed_port()), min_size=0, max_size=1)
    try:
        lookup = PatientLookup(pool, timeout=0.25)
        with capture_logs() as logs:
            started = time.monotonic()
            assert await lookup.lookup("+13125551002") is None
            assert time.monotonic() - started < 0.5
            assert await lookup.lookup("+13125551003") is None
        assert not lookup.available
        assert [e["event"] for e in logs] == ["store.lookup_unavailable"]  # once per outage
        assert logs[0]["caller"] == "+*******1002"
        assert "5551002" not in repr(logs)
    finally:
        await pool.close()


async def test_lookup_times_out_on_a_stalled_database(
    pg_dsn: str, schema: str, migrated: asyncpg.Connection, proxy: object
) -> None:
    from .conftest import TcpProxy

    assert isinstance(proxy, TcpProxy)
    await import_directory(migrated, EXAMPLE)
    pool = await asyncpg.create_pool(
        via(pg_dsn, proxy.port), min_size=1, max_size=1, server_settings={"search_path": schema}
    )
    try:
        lookup = PatientLookup(pool, timeout=0.25)
        assert await lookup.lookup("+13125551002") == Patient("P-1002", "es", "cardiology")
        proxy.stall()
        started = time.monotonic()
        assert await lookup.lookup("+13125551002") is None
        assert time.monotonic() - started < 0.6
        assert not lookup.available
        proxy.restore()
        await asyncio.sleep(0)
        with capture_logs() as logs:
            for _ in range(20):  # the stalled connection is replaced
                if await lookup.lookup("+13125551002") is not None:
                    break
                await asyncio.sleep(0.05)
        assert lookup.available
        assert "store.lookup_recovered" in [e["event"] for e in logs]
    finally:
        pool.terminate()


async def test_lookup_on_an_unmigrated_schema_is_an_unknown_caller(
    pg_dsn: str, schema: str
) -> None:
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=0, max_size=1, server_settings={"search_path": schema}
    )
    try:
        assert await PatientLookup(pool).lookup("+13125551002") is None
    finally:
        await pool.close()
