"""One active daemon per app name: the file lock, the PostgreSQL advisory lock, the
standby's wait and the lease that fences a daemon whose turn is over; real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.instance import LEASE, SESSION_TIMEOUT, AlreadyRunning, InstanceLock, Lease
from frontdesk.store import upgrade
from tests.pg import DSN, dsn_in, scratch_schema


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    """The test database, in a schema of its own (the lock is keyed on the schema)."""
    async with scratch_schema("fd_instance") as name:
        yield dsn_in(name)


@pytest.fixture
def app() -> str:
    """An app name of the test's own: standbys are counted by name across schemas."""
    return f"fd-{uuid.uuid4().hex[:8]}"


async def gone(lock: InstanceLock) -> None:
    await lock.release()
    lock.unlock_file()


async def until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(predicate) or not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- the lease (pure) --------------------------------------------------------------------------
def test_a_lease_with_no_standby_seen_never_lapses() -> None:
    lease = Lease(duration=2.0)
    lease.confirm(10.0, standbys=0)
    assert lease.commanding(10.5)
    assert lease.commanding(1000.0)  # a database outage: nobody could take over
    assert not lease.lapsed(1000.0)


def test_with_a_standby_seen_the_lease_lapses_after_its_duration() -> None:
    lease = Lease(duration=2.0)
    lease.confirm(10.0, standbys=1)
    assert lease.commanding(11.9)
    assert not lease.commanding(12.0)
    assert lease.lapsed(12.0)
    lease.confirm(12.5, standbys=1)  # a check came back after all
    assert lease.commanding(13.0)


def test_a_lost_lease_is_final() -> None:
    lease = Lease(duration=2.0)
    lease.confirm(10.0, standbys=0)
    assert lease.lose("taken")
    assert not lease.lose("again")
    assert lease.lost == "taken"
    lease.confirm(11.0, standbys=0)
    assert not lease.commanding(11.0)
    assert not lease.lapsed(11.0)  # lost, not lapsed: said once


def test_the_lease_ends_before_postgresql_could_hand_the_lock_on() -> None:
    assert LEASE < SESSION_TIMEOUT


# -- the file lock ---------------------------------------------------------------------------
async def test_second_lock_on_the_same_data_dir_is_refused_and_names_the_holder(
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
    await gone(first)
    again = InstanceLock("frontdesk", tmp_path)
    await again.acquire()
    await gone(again)


async def test_with_a_database_a_standby_on_this_host_is_told_to_use_its_own_data_dir(
    tmp_path: Path,
) -> None:
    first = InstanceLock("frontdesk", tmp_path)
    first.lock_file()
    with pytest.raises(AlreadyRunning, match="needs its own FRONTDESK_DATA_DIR"):
        InstanceLock("frontdesk", tmp_path, "postgresql://nowhere/x").lock_file()
    first.unlock_file()


async def test_other_app_names_do_not_conflict(tmp_path: Path) -> None:
    one, two = InstanceLock("frontdesk", tmp_path), InstanceLock("frontdesk-north", tmp_path)
    await one.acquire()
    await two.acquire()
    await gone(one)
    await gone(two)


async def test_app_name_cannot_escape_the_data_directory(tmp_path: Path) -> None:
    lock = InstanceLock("../../etc/x", tmp_path)
    await lock.acquire()
    assert lock.path.parent == tmp_path
    await gone(lock)


# -- the advisory lock -----------------------------------------------------------------------
async def test_a_daemon_on_another_host_sharing_the_database_is_refused_by_acquire(
    tmp_path: Path, dsn: str, app: str
) -> None:
    first = InstanceLock(app, tmp_path / "host-a", dsn)
    await first.acquire()
    assert first.database_locked
    second = InstanceLock(app, tmp_path / "host-b", dsn)  # its own file lock is free
    with pytest.raises(AlreadyRunning) as refused:
        await second.acquire()
    message = str(refused.value)
    assert f"'{app}'" in message
    assert f"application_name 'frontdesk-instance:{app}'" in message
    assert "database session pid" in message
    # Refused means holding neither lock: the file lock on host b was given back.
    other = InstanceLock(app, tmp_path / "host-b")
    await other.acquire()
    await gone(other)
    await gone(first)
    await second.acquire()
    assert second.database_locked
    await gone(second)


async def test_an_unreachable_database_leaves_the_file_lock_in_charge(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/nothing"
    lock = InstanceLock("frontdesk", tmp_path, down, connect_timeout=1.0, check_interval=60)
    await lock.acquire()
    assert not lock.database_locked
    assert lock.commanding()
    with pytest.raises(AlreadyRunning):
        await InstanceLock("frontdesk", tmp_path).acquire()
    await gone(lock)


async def test_a_standby_waits_then_takes_the_lock_when_the_active_releases_it(
    tmp_path: Path, dsn: str, app: str
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await upgrade(conn)  # the table the active advertises itself in (0010)
    finally:
        await conn.close()
    active = InstanceLock(app, tmp_path / "a", dsn)
    await active.acquire()
    await active.advertise("https://frontdesk-a.example/")
    standby = InstanceLock(app, tmp_path / "b", dsn, poll_interval=0.05)
    standby.lock_file()
    stop = asyncio.Event()
    waiting = asyncio.create_task(standby.wait(stop))
    await until(lambda: standby.active is not None)
    assert standby.active is not None
    assert standby.active.public_url == "https://frontdesk-a.example/"
    assert standby.active.pid == os.getpid()
    await until(lambda: active.lease.standby_seen)  # the active's check sees it waiting
    assert not waiting.done()
    await gone(active)
    assert await asyncio.wait_for(waiting, 5)
    assert standby.database_locked
    assert standby.commanding()
    await gone(standby)


async def test_a_standby_stops_waiting_when_told(tmp_path: Path, dsn: str, app: str) -> None:
    active = InstanceLock(app, tmp_path / "a", dsn)
    await active.acquire()
    standby = InstanceLock(app, tmp_path / "b", dsn, poll_interval=0.05)
    stop = asyncio.Event()
    waiting = asyncio.create_task(standby.wait(stop))
    await asyncio.sleep(0.2)
    stop.set()
    assert not await asyncio.wait_for(waiting, 5)
    await gone(active)


HOLDER = """
import asyncio, sys
from pathlib import Path
from frontdesk.instance import InstanceLock

async def main() -> None:
    lock = InstanceLock(sys.argv[3], Path(sys.argv[1]), sys.argv[2] or None)
    await lock.acquire()
    print("locked", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def hold(tmp_path: Path, dsn: str, app: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), dsn, app], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert any(line.strip() == "locked" for line in iter(holder.stdout.readline, ""))
    return holder


async def test_kill_9_releases_both_locks(tmp_path: Path, dsn: str, app: str) -> None:
    holder = hold(tmp_path, dsn, app)
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} on"):
            await InstanceLock(app, tmp_path, dsn).acquire()
        with pytest.raises(AlreadyRunning, match="database session"):
            await InstanceLock(app, tmp_path / "elsewhere", dsn).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    # The kernel drops the flock with the process; PostgreSQL ends the session (and its
    # advisory lock) when it sees the client's socket close, a moment later.
    lock = InstanceLock(app, tmp_path, dsn)
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
    await gone(lock)


async def test_a_frozen_holder_loses_the_lock_to_the_standby_within_the_session_timeout(
    tmp_path: Path, dsn: str, app: str
) -> None:
    holder = hold(tmp_path / "a", dsn, app)
    standby = InstanceLock(app, tmp_path / "b", dsn, poll_interval=0.1)
    try:
        waiting = asyncio.create_task(standby.wait(asyncio.Event()))
        await asyncio.sleep(1.0)
        assert not waiting.done()
        holder.send_signal(signal.SIGSTOP)  # its socket stays open: only the server can tell
        frozen = time.monotonic()
        assert await asyncio.wait_for(waiting, SESSION_TIMEOUT + 5)
        took = time.monotonic() - frozen
        assert took < SESSION_TIMEOUT + 1.5, took
        assert took > LEASE  # never before the frozen one's lease has lapsed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.send_signal(signal.SIGCONT)
        holder.wait(timeout=10)
        await gone(standby)


async def test_without_a_standby_the_lock_is_taken_again_after_its_session_is_lost(
    tmp_path: Path, dsn: str, app: str
) -> None:
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
        assert not lock.lost.is_set()
        assert lock.commanding()  # nobody else could have served meanwhile
        with pytest.raises(AlreadyRunning, match="database session"):
            await InstanceLock(app, tmp_path / "elsewhere", dsn).acquire()
    finally:
        await admin.close()
        await gone(lock)


async def test_with_a_standby_waiting_a_lost_lock_connection_ends_the_turn(
    tmp_path: Path, dsn: str, app: str
) -> None:
    active = InstanceLock(app, tmp_path / "a", dsn, check_interval=0.05)
    await active.acquire()
    reasons: list[str] = []
    active.on_lost = reasons.append
    standby = InstanceLock(app, tmp_path / "b", dsn, poll_interval=0.05)
    waiting = asyncio.create_task(standby.wait(asyncio.Event()))
    await until(lambda: active.lease.standby_seen)
    admin = await asyncpg.connect(DSN)
    try:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        (pid,) = [r["pid"] for r in await admin.fetch(query, active.application_name)]
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await asyncio.wait_for(active.lost.wait(), 5)
        assert reasons == ["lock connection lost"]
        assert not active.commanding()
        assert await asyncio.wait_for(waiting, 5)  # the standby has it now
    finally:
        await admin.close()
        await gone(active)
        await gone(standby)


async def test_two_sites_with_the_same_app_are_both_active(
    tmp_path: Path, dsn: str, app: str
) -> None:
    """The site is part of the lock (docs/scale.md "Several sites"): two sites running the
    same app name on one database never make each other standby; each advertises itself."""
    conn = await asyncpg.connect(dsn)
    try:
        await upgrade(conn)
    finally:
        await conn.close()
    north = InstanceLock(app, tmp_path / "north", dsn, site="north")
    south = InstanceLock(app, tmp_path / "south", dsn, site="south")
    await north.acquire()
    await south.acquire()
    assert north.database_locked
    assert south.database_locked
    assert north.application_name == f"frontdesk-instance:north/{app}"
    await north.advertise("https://north.example/")
    await south.advertise("https://south.example/")
    # ...while a second daemon of one site is that site's standby
    standby = InstanceLock(app, tmp_path / "north-b", dsn, site="north", poll_interval=0.05)
    stop = asyncio.Event()
    waiting = asyncio.create_task(standby.wait(stop))
    await until(lambda: standby.active is not None)
    assert standby.active is not None
    assert standby.active.public_url == "https://north.example/"
    assert not waiting.done()
    stop.set()
    assert not await waiting
    # the default site keeps the bare app name (a pair upgraded one daemon at a time)
    assert InstanceLock(app, tmp_path / "x").application_name == f"frontdesk-instance:{app}"
    for lock in (north, south, standby):
        await gone(lock)
