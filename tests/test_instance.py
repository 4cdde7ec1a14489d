"""One daemon per app name: the file lock and the PostgreSQL advisory lock, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.instance import AlreadyRunning, InstanceLock
from tests.pg import DSN, dsn_in, scratch_schema


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    """The test database, in a schema of its own (the lock is keyed on the schema)."""
    async with scratch_schema("fd_instance") as name:
        yield dsn_in(name)


async def test_second_lock_on_the_same_host_is_refused_and_names_the_holder(
    tmp_path: Path,
) -> None:
    first = InstanceLock("frontdesk", tmp_path)
    await first.acquire()
    with pytest.raises(AlreadyRunning) as refused:
        await InstanceLock("frontdesk", tmp_path).acquire()
    message = str(refused.value)
    assert "'frontdesk'" in message
    assert f"pid {os.getpid()}" in message
    assert str(tmp_path / "frontdesk.lock") in message
    await first.release()
    again = InstanceLock("frontdesk", tmp_path)
    await again.acquire()
    await again.release()


async def test_other_app_names_do_not_conflict(tmp_path: Path) -> None:
    one, two = InstanceLock("frontdesk", tmp_path), InstanceLock("frontdesk-north", tmp_path)
    await one.acquire()
    await two.acquire()
    await one.release()
    await two.release()


async def test_app_name_cannot_escape_the_data_directory(tmp_path: Path) -> None:
    lock = InstanceLock("../../etc/x", tmp_path)
    await lock.acquire()
    assert lock.path.parent == tmp_path
    await lock.release()


async def test_a_daemon_on_another_host_sharing_the_database_is_refused(
    tmp_path: Path, dsn: str
) -> None:
    first = InstanceLock("frontdesk", tmp_path / "host-a", dsn)
    await first.acquire()
    assert first.database_locked
    second = InstanceLock("frontdesk", tmp_path / "host-b", dsn)  # its own file lock is free
    with pytest.raises(AlreadyRunning) as refused:
        await second.acquire()
    message = str(refused.value)
    assert "'frontdesk'" in message
    assert "application_name 'frontdesk-instance:frontdesk'" in message
    assert "database session pid" in message
    # Refused means holding nothing: the file lock on host b was given back.
    other_app = InstanceLock("frontdesk", tmp_path / "host-b")
    await other_app.acquire()
    await other_app.release()
    await first.release()
    await second.acquire()
    assert second.database_locked
    await second.release()


async def test_an_unreachable_database_leaves_the_file_lock_in_charge(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/nothing"
    lock = InstanceLock("frontdesk", tmp_path, down, connect_timeout=1.0, check_interval=60)
    await lock.acquire()
    assert not lock.database_locked
    with pytest.raises(AlreadyRunning):
        await InstanceLock("frontdesk", tmp_path).acquire()
    await lock.release()


HOLDER = """
import asyncio, sys
from pathlib import Path
from frontdesk.instance import InstanceLock

async def main() -> None:
    lock = InstanceLock("frontdesk", Path(sys.argv[1]), sys.argv[2] or None)
    await lock.acquire()
    print("locked", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_kill_9_releases_both_locks(tmp_path: Path, dsn: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), dsn],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert any(line.strip() == "locked" for line in iter(holder.stdout.readline, ""))
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} on"):
            await InstanceLock("frontdesk", tmp_path, dsn).acquire()
        with pytest.raises(AlreadyRunning, match="database session"):
            await InstanceLock("frontdesk", tmp_path / "elsewhere", dsn).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    # The kernel drops the flock with the process; PostgreSQL ends the session (and its
    # advisory lock) when it sees the client's socket close, a moment later.
    lock = InstanceLock("frontdesk", tmp_path, dsn)
    refusals: list[str] = []
    for _ in range(100):
        try:
            await lock.acquire()
            break
        except AlreadyRunning as exc:
            refusals.append(str(exc))
            await asyncio.sleep(0.1)
    assert all("database session" in r for r in refusals)  # never the file lock
    assert lock.database_locked
    await lock.release()


async def test_the_advisory_lock_is_taken_again_after_its_session_is_lost(
    tmp_path: Path, dsn: str
) -> None:
    app = f"frontdesk-{tmp_path.name[-12:]}"  # other daemons may share this server
    lock = InstanceLock(app, tmp_path, dsn, check_interval=0.05)
    await lock.acquire()
    admin = await asyncpg.connect(DSN)
    try:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        (first,) = [r["pid"] for r in await admin.fetch(query, lock.application_name)]
        await admin.execute("SELECT pg_terminate_backend($1)", first)  # a database restart
        retaken = False
        for _ in range(200):
            now = [r["pid"] for r in await admin.fetch(query, lock.application_name)]
            retaken = lock.database_locked and bool(now) and first not in now
            if retaken:
                break
            await asyncio.sleep(0.05)
        assert retaken
        with pytest.raises(AlreadyRunning, match="database session"):
            await InstanceLock(app, tmp_path / "elsewhere", dsn).acquire()
    finally:
        await admin.close()
        await lock.release()
