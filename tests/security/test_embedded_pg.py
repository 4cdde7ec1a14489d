"""Issue 14, row 7: the private PostgreSQL trusts nobody.

It used to accept every local account (`host all all 127.0.0.1/32 trust`): anyone on
the machine could read patients, add a supervisor or `COPY ... TO PROGRAM` as its
superuser. Now only the superuser with its generated password (scram-sha-256, kept 0600
in the data directory) gets in, and a cluster made by an older frontdesk is upgraded at
its next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store.embedded import EmbeddedPostgres, EmbeddedPostgresError, candidates

pytestmark = pytest.mark.skipif(
    not candidates(),
    reason="no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin",
)

OLD_HBA = "local   all   all                  trust\nhost    all   all   127.0.0.1/32   trust\n"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # /tmp (a short socket path), 0755: as root the server runs as an unprivileged user.
    folder = Path(tempfile.mkdtemp(prefix="fd-sec-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        with contextlib.suppress(EmbeddedPostgresError):
            asyncio.run(EmbeddedPostgres(folder).stop())
        shutil.rmtree(folder, ignore_errors=True)


def port_of(dsn: str) -> int:
    return int(dsn.rsplit(":", 1)[1].split("/")[0])


async def refused(**kwargs: object) -> bool:
    try:
        conn = await asyncpg.connect(database="frontdesk", timeout=5, **kwargs)
    except (asyncpg.PostgresError, asyncpg.InterfaceError):
        return True
    await conn.close()
    return False


def hba_rules(pgdata: Path) -> list[str]:
    lines = (pgdata / "pg_hba.conf").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


async def assert_locked(pg: EmbeddedPostgres, dsn: str) -> None:
    port = port_of(dsn)
    password_file = pg.data_dir / "pg.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 32
    rules = hba_rules(pg.pgdata)
    assert rules
    assert not any("trust" in rule for rule in rules)
    assert all(rule.split()[-1] == "scram-sha-256" for rule in rules)
    socket_dir = str(pg.socket_dir)
    for host in ("127.0.0.1", socket_dir):
        assert await refused(host=host, port=port, user="frontdesk")
        assert await refused(host=host, port=port, user="frontdesk", password="wrong")
        assert await refused(host=host, port=port, user="postgres", password=password)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == "frontdesk"
    finally:
        await conn.close()


async def test_a_new_cluster_needs_the_generated_password(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    dsn = await pg.start()
    try:
        await assert_locked(pg, dsn)
        # a second start reuses the server and the password
        again = EmbeddedPostgres(data_dir)
        assert await again.start() == dsn
    finally:
        await pg.stop()


async def test_a_cluster_from_an_older_version_is_upgraded(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    dsn = await pg.start()
    try:
        # What an older frontdesk left: no password, trust for everyone, running.
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("ALTER ROLE frontdesk PASSWORD NULL")
        finally:
            await conn.close()
        (pg.pgdata / "pg_hba.conf").write_text(OLD_HBA)
        await pg._reload()
        (data_dir / "pg.password").unlink()
        assert not await refused(host="127.0.0.1", port=port_of(dsn), user="frontdesk")

        upgraded = EmbeddedPostgres(data_dir)
        new_dsn = await upgraded.start()
        assert new_dsn != dsn
        await assert_locked(upgraded, new_dsn)
    finally:
        await pg.stop()


async def test_a_password_file_readable_by_others_is_replaced(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    dsn = await pg.start()
    try:
        await pg.stop()
        (data_dir / "pg.password").chmod(0o644)
        new_dsn = await EmbeddedPostgres(data_dir).start()
        assert new_dsn != dsn
        await assert_locked(pg, new_dsn)
        old_password = dsn.split("@")[0].rsplit(":", 1)[1]
        assert await refused(
            host="127.0.0.1", port=port_of(new_dsn), user="frontdesk", password=old_password
        )
    finally:
        await pg.stop()
