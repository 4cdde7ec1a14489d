"""One daemon per Stasis app name: a second `frontdesk run` for the same app refuses to run.

Two daemons on one app would fight over every call: Asterisk sends `ApplicationReplaced`
to the older events socket and the new one gets the calls, while the old one still holds
the queued callers it re-adopted. So `frontdesk run` takes two exclusive locks at start,
before it talks to Asterisk, and holds them for its whole life:

- an `fcntl.flock` on `<data_dir>/<app>.lock` (this host, with or without a database;
  the file says which process holds it), and
- with `FRONTDESK_DATABASE_URL`, a PostgreSQL session-level advisory lock keyed on
  `hashtext('frontdesk:' || current_schema() || ':' || app)`, on a dedicated connection
  whose `application_name` names the holder (pid and host), so a second daemon on
  another host that shares the database is refused too. The schema is part of the key
  as it is for the migrations' lock: a schema is one deployment, so two practices that
  share a database server (or two test runs) never refuse each other.

The kernel releases the flock and PostgreSQL the advisory lock when the process dies,
`kill -9` included, so a crashed daemon never blocks its restart.

A database that is down at start does not stop the daemon (calls matter more than
records, and the outbox spools meanwhile): the file lock still holds on this host, and
the advisory lock is taken as soon as the database answers. When the lock connection
is lost (a database restart ends the session and with it the lock), it is taken again;
if another daemon took it meanwhile, that is logged as an error every time it is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import structlog

# `frontdesk run` exits with it when another daemon holds the app name; daemon.py still
# imports it from here (until it imports frontdesk.exits).
from frontdesk.store import db

log = structlog.get_logger("frontdesk.instance")

_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('frontdesk:' || current_schema() || ':' || $1))"
_HOLDER_SQL = (
    "SELECT pid, client_addr::text, backend_start FROM pg_stat_activity "
    "WHERE application_name = $1 AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1"
)


class AlreadyRunning(RuntimeError):
    """Another daemon holds the app name; the message says where to find it."""


@dataclass
class InstanceLock:
    app: str
    data_dir: Path
    dsn: str | None = None
    connect_timeout: float = 5.0
    check_interval: float = 5.0  # how often the lock connection is checked

    def __post_init__(self) -> None:
        self.path = self.data_dir / f"{_safe(self.app)}.lock"
        self.holder = f"pid {os.getpid()} on {socket.gethostname()}"
        self._fd: int | None = None
        self._conn: db.Connection | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._refused: db.Connection | None = None  # the session that found the lock taken

    @property
    def application_name(self) -> str:
        return f"frontdesk-instance:{self.app}"[:63]  # PostgreSQL truncates at 63 bytes

    @property
    def database_locked(self) -> bool:
        return self._conn is not None

    async def acquire(self) -> None:
        """Take both locks or raise `AlreadyRunning` (holding neither)."""
        self._lock_file()
        try:
            if self.dsn is not None and not await self._lock_database():
                raise AlreadyRunning(await self._database_refusal())
        except BaseException:
            self._unlock_file()
            raise
        if self.dsn is not None:
            self._keeper = asyncio.create_task(self._keep(), name="instance-lock")

    async def release(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        await self._close_connection()
        self._unlock_file()

    # -- the file lock ----------------------------------------------------------------------
    def _lock_file(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another frontdesk daemon is running for app '{self.app}' on this host "
                f"({other or 'holder unknown'}; lock file {self.path}). Stop it first "
                f"(`kill -TERM <pid>`), or give this one another FRONTDESK_APP."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder}\n".encode())
        self._fd = fd

    def _unlock_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the flock

    # -- the advisory lock ------------------------------------------------------------------
    async def _lock_database(self) -> bool:
        """True: locked (or the database is unreachable: the keeper retries); False: taken."""
        assert self.dsn is not None
        try:
            conn = await db.connect(
                self.dsn,
                timeout=self.connect_timeout,
                server_settings={"application_name": self.application_name},
            )
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            log.warning("instance.database_unavailable", error=type(exc).__name__)
            return True
        try:
            locked = bool(await conn.fetchval(_LOCK_SQL, self.app, timeout=self.connect_timeout))
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            log.warning("instance.database_unavailable", error=type(exc).__name__)
            conn.terminate()
            return True
        if not locked:
            self._refused = conn
            return False
        self._conn = conn
        log.info("instance.locked", app=self.app, database=True)
        return True

    async def _database_refusal(self) -> str:
        conn, self._refused = self._refused, None
        if conn is None:
            return f"another frontdesk daemon is running for app '{self.app}'"
        try:
            row = await conn.fetch(_HOLDER_SQL, self.application_name, timeout=2.0)
        except (*db.UNAVAILABLE, db.PostgresError):
            row = []
        finally:
            conn.terminate()
        where = (
            f"database session pid {row[0]['pid']} from {row[0]['client_addr'] or 'a local socket'}"
            if row
            else "a session of the same database"
        )
        return (
            f"another frontdesk daemon is running for app '{self.app}' ({where}, "
            f"application_name '{self.application_name}' in pg_stat_activity). Stop it "
            f"first, or give this one another FRONTDESK_APP."
        )

    async def _keep(self) -> None:
        """Hold the advisory lock: check the connection, take the lock again once lost."""
        while True:
            await asyncio.sleep(self.check_interval)
            if self._conn is not None:
                try:
                    await self._conn.fetchval("SELECT 1", timeout=self.connect_timeout)
                    continue
                except (*db.UNAVAILABLE, db.PostgresError):
                    log.warning("instance.lock_connection_lost", app=self.app)
                    await self._close_connection()
            if not await self._lock_database():
                if self._refused is not None:
                    self._refused.terminate()
                    self._refused = None
                log.error(
                    "instance.lock_taken_by_another",
                    app=self.app,
                    hint=f"application_name '{self.application_name}' in pg_stat_activity",
                )

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 1.0)
        if not conn.is_closed():
            conn.terminate()


def _safe(app: str) -> str:
    """The app name as a file name (ARI app names are free text)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in app) or "app"


def _read(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""
