"""The embedded PostgreSQL: real initdb, real server processes, real sockets.

One cluster for the module (initdb once); every test leaves it stopped. Skipped, saying
so, only when the machine has no PostgreSQL binaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import upgrade
from frontdesk.store.embedded import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    EmbeddedPostgresUnavailable,
    candidates,
    find_binaries,
)

needs_pg = pytest.mark.skipif(
    not candidates(),
    reason="no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin",
)


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Under /tmp (short socket path) and mode 0755: as root, the server runs as an
    # unprivileged user that must be able to enter it (pytest's tmp_path is 0700).
    folder = Path(tempfile.mkdtemp(prefix="fd-pg-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        with contextlib.suppress(EmbeddedPostgresError):
            asyncio.run(EmbeddedPostgres(folder).stop())
        shutil.rmtree(folder, ignore_errors=True)


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper, e.g. a slow PID 1, has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def listeners(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].rsplit(":", 1)
                if int(hex_port, 16) == port and fields[3] == "0A":  # TCP_LISTEN
                    found.append(address)
    return found


@needs_pg
async def test_start_migrate_stop_then_restart_reuses_the_cluster(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    dsn = await pg.start()
    password = (data_dir / "pg.password").read_text().strip()
    assert dsn.startswith(f"postgresql://frontdesk:{password}@127.0.0.1:")
    assert dsn.endswith("/frontdesk")
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == "frontdesk"
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
        assert await upgrade(conn) != []
        await conn.execute(
            "INSERT INTO patients (phone, patient_id, preferred_language, specialty) "
            "VALUES ('+13125550100', 'P-1', 'en', 'family')"
        )
        system_id = await conn.fetchval("SELECT system_identifier FROM pg_control_system()")
    finally:
        await conn.close()
    pid = postmaster_pid(pg.pgdata)
    workers = children(pid)
    assert workers  # checkpointer, walwriter, ...
    await pg.stop()

    # stop leaves no process for this data directory
    assert not (pg.pgdata / "postmaster.pid").exists()
    assert not alive(pid)
    assert not [w for w in workers if alive(w)]
    assert processes_mentioning(str(pg.pgdata)) == []

    # again: no second initdb (same cluster identity), the data is still there
    again = EmbeddedPostgres(data_dir)
    dsn = await again.start()
    try:
        assert not again.initialised
        assert not again.reused
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT system_identifier FROM pg_control_system()") == (
                system_id
            )
            assert await upgrade(conn) == []
            assert await conn.fetchval("SELECT patient_id FROM patients") == "P-1"
        finally:
            await conn.close()
    finally:
        await again.stop()
    assert (data_dir / "pg.log").stat().st_size > 0


@needs_pg
async def test_listens_on_loopback_only_with_a_private_socket(data_dir: Path) -> None:
    async with EmbeddedPostgres(data_dir) as dsn:
        port = int(dsn.rsplit(":", 1)[1].split("/")[0])
        assert listeners(port) == ["0100007F"]  # 127.0.0.1, nothing on IPv6 or 0.0.0.0
        socket_dir = data_dir / "pg-socket"
        assert (socket_dir / f".s.PGSQL.{port}").exists()
        assert socket_dir.stat().st_mode & 0o077 == 0
        # the unix socket works too (the superuser `frontdesk` with its password)
        password = (data_dir / "pg.password").read_text().strip()
        conn = await asyncpg.connect(
            host=str(socket_dir),
            port=port,
            user="frontdesk",
            password=password,
            database="frontdesk",
        )
        try:
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        finally:
            await conn.close()


@needs_pg
async def test_a_second_start_reuses_the_running_server(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir)
    dsn = await first.start()
    try:
        pid = postmaster_pid(first.pgdata)
        second = EmbeddedPostgres(data_dir)
        assert await second.start() == dsn
        assert second.reused
        assert not second.initialised
        assert postmaster_pid(first.pgdata) == pid
    finally:
        await first.stop()
    assert not alive(pid)


@needs_pg
async def test_a_given_port_is_used(data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with EmbeddedPostgres(data_dir, port=port) as dsn:
        assert f"@127.0.0.1:{port}/" in dsn


async def test_no_binaries_is_a_clear_error() -> None:
    with pytest.raises(EmbeddedPostgresUnavailable) as info:
        find_binaries(search_path="/nonexistent", globs=("/nonexistent/*/bin",))
    message = str(info.value)
    assert "install `postgresql` from the OS packages" in message
    assert "FRONTDESK_DATABASE_URL" in message


async def test_a_data_dir_too_long_for_a_socket_is_refused() -> None:
    with pytest.raises(EmbeddedPostgresError, match="too long for a unix socket"):
        await EmbeddedPostgres(Path("/tmp") / ("x" * 120)).start()
