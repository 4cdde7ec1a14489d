"""One active daemon per Stasis app; the others wait as standby (docs/scale.md, "Standby").

Two daemons on one app would fight over every call: a second events socket for the same
app silently takes it over (Asterisk sends `ApplicationReplaced` to the older one), while
the old one still holds the callers it adopted. So a daemon talks to Asterisk only while
it holds two exclusive locks:

- an `fcntl.flock` on `<data_dir>/<app>.lock`, for the process's whole life (the data
  directory holds the spool and the private database: one daemon writes them, so a
  second daemon in the same directory exits with code 3, and a standby on the same host
  has a directory of its own; the file names the holder),
- with `FRONTDESK_DATABASE_URL`, a PostgreSQL session-level advisory lock keyed on
  `hashtext('frontdesk:' || current_schema() || ':' || app)`, on a dedicated connection
  named `frontdesk-instance:<app>` (`application_name`). The schema is part of the key,
  as for the migrations' lock: two practices sharing a server never meet. So is the
  site (`FRONTDESK_SITE`, docs/scale.md "Several sites"): two sites running the same app
  name on one database are two actives, never each other's standby. The default site
  `main` keeps the bare app name in the key and the names, as before sites existed, so
  upgrading one daemon of a pair never makes two actives.

Without a database URL a second daemon exits with code 3 (`AlreadyRunning`), as before:
there is no shared state to hand over. With one, it waits as *standby*: it polls
`pg_try_advisory_lock` every `POLL_INTERVAL` on a connection named
`frontdesk-standby:<app>` (polling rather than blocking in `pg_advisory_lock`: the lock
is only ever granted to a process that is running at that moment, each poll checks the
standby's own link, and no long statement is left for a pooler or `statement_timeout`
to cut; the cost is at most half a second of takeover and two queries a second).

PostgreSQL frees the lock when the holder's session ends: at once for a killed process
(its socket closes), and after `SESSION_TIMEOUT` s for a frozen one (SIGSTOP), a machine
gone or a partition: the lock connection sets `idle_session_timeout`, and the active
runs a query every `CHECK_INTERVAL`, so only a holder that stopped talking is cut.

Fencing is a lease (`Lease`, pure): the active may command calls only while its last
confirmed check is younger than `LEASE` (< `SESSION_TIMEOUT`, so it stops before the
server could hand the lock on), and the executor asks before every request. A frozen
daemon that is continued finds its lease lapsed before any timer of it can reach
Asterisk. When a standby was seen at the last check, a lapsed lease or a lost lock
connection ends the daemon's turn (`lose`): it drops back to standby. With no standby
seen, nobody else could take over, so a database outage does not stop the calls: the
daemon serves on without the lock (the outbox spools) and takes it again when the
database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from frontdesk.store import db

log = structlog.get_logger("frontdesk.instance")

POLL_INTERVAL = 0.5  # s between two lock attempts of a standby
CHECK_INTERVAL = 0.5  # s between two checks of the active's lock connection
QUERY_TIMEOUT = 1.0  # s for one poll or check
LEASE = 2.0  # s after the last confirmed check that the active may still command calls
SESSION_TIMEOUT = 3.0  # idle_session_timeout of the lock connection (PostgreSQL >= 14)
ADVERTISE_EVERY = 4  # polls between two reads of who is active (for the dashboard)

_KEY = "hashtext('frontdesk:' || current_schema() || ':' || $1)"
_LOCK_SQL = f"SELECT pg_try_advisory_lock({_KEY})"
_CHECK_SQL = (  # also renews the lease: the session, and so the lock, is alive
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE application_name = $1 AND datname = current_database()"
)
_HOLDER_SQL = (
    "SELECT pid, client_addr::text, backend_start FROM pg_stat_activity "
    "WHERE application_name = $1 AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1"
)
_ADVERTISE_SQL = (
    "INSERT INTO active_daemons (site, app, host, pid, public_url, since)"
    " VALUES ($5, $1, $2, $3, $4, now()) ON CONFLICT (site, app)"
    " DO UPDATE SET host = $2, pid = $3, public_url = $4, since = now()"
)
_ACTIVE_SQL = "SELECT host, pid, public_url, since FROM active_daemons WHERE app = $1 AND site = $2"
# The lock connection's server settings: a holder that stops talking loses its session.
_SESSION = {
    "idle_session_timeout": str(int(SESSION_TIMEOUT * 1000)),
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "2",
}


class AlreadyRunning(RuntimeError):
    """Another daemon holds the app name; the message says where to find it."""


@dataclass
class Lease:
    """May the active command calls now? Pure: times are the caller's monotonic seconds.

    `confirm` when a check of the lock connection came back (with the time it was *sent*:
    the server's idle clock started after that). A lease with no standby seen never
    lapses: nobody could take over, so calls go on through a database outage."""

    duration: float = LEASE
    confirmed: float | None = None
    standby_seen: bool = False
    lost: str | None = None  # why this turn ended; final

    def confirm(self, sent_at: float, standbys: int) -> None:
        if self.lost is None:
            self.confirmed = sent_at
            self.standby_seen = standbys > 0

    def commanding(self, now: float) -> bool:
        if self.lost is not None:
            return False
        if not self.standby_seen:
            return True
        return self.confirmed is not None and now - self.confirmed < self.duration

    def lapsed(self, now: float) -> bool:
        """Lapsed with a standby waiting: this turn is over."""
        return self.lost is None and not self.commanding(now)

    def lose(self, why: str) -> bool:
        """End this turn; False when it had ended already."""
        if self.lost is not None:
            return False
        self.lost = why
        return True


@dataclass(frozen=True)
class ActiveDaemon:
    """The active daemon as it advertised itself (table `active_daemons`, migration 0010)."""

    host: str
    pid: int
    public_url: str | None
    since: datetime


class InstanceLock:
    def __init__(
        self,
        app: str,
        data_dir: Path,
        dsn: str | None = None,
        *,
        connect_timeout: float = 5.0,
        poll_interval: float = POLL_INTERVAL,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        site: str = db.DEFAULT_SITE,
    ) -> None:
        self.app, self.data_dir, self.dsn, self.site = app, data_dir, dsn, site
        # The advisory lock's name: the app, and the site unless it is the default one.
        self.name = app if site == db.DEFAULT_SITE else f"{site}/{app}"
        self.connect_timeout = connect_timeout
        self.poll_interval, self.check_interval = poll_interval, check_interval
        self.clock = clock
        self.path = data_dir / f"{_safe(app)}.lock"
        self.host = socket.gethostname()
        self.holder = f"pid {os.getpid()} on {self.host}"
        self.lease = Lease()
        self.lost = asyncio.Event()  # set when this turn ends (`lose`)
        self.on_lost: Callable[[str], None] = lambda why: None
        self.active: ActiveDaemon | None = None  # who is active, as a standby last read it
        self.database_reachable: bool | None = None  # as a standby last saw it
        self._fd: int | None = None
        self._conn: db.Connection | None = None  # the lock connection (or a standby's)
        self._backend: int | None = None  # its server pid, to tell our own ghost session
        self._keeper: asyncio.Task[None] | None = None
        self._session = dict(_SESSION)

    @property
    def application_name(self) -> str:
        return f"frontdesk-instance:{self.name}"[:63]  # PostgreSQL truncates at 63 bytes

    @property
    def standby_name(self) -> str:
        return f"frontdesk-standby:{self.name}"[:63]

    @property
    def _at_site(self) -> str:
        return "" if self.site == db.DEFAULT_SITE else f" at site '{self.site}'"

    @property
    def database_locked(self) -> bool:
        return self._keeper is not None and self._conn is not None

    def commanding(self) -> bool:
        """The executor's gate (calls/executor.py): may this daemon command calls now?"""
        return self.lease.commanding(self.clock())

    def lose(self, why: str) -> None:
        """This daemon's turn is over: it commands nothing more (idempotent)."""
        if self.lease.lose(why):
            log.error("instance.fenced", app=self.app, reason=why)
            self.lost.set()
            self.on_lost(why)

    # -- taking the locks -------------------------------------------------------------------
    async def acquire(self) -> None:
        """Take both locks at once or raise `AlreadyRunning` (holding neither). A database
        that does not answer leaves the file lock in charge (the keeper retries)."""
        self.lock_file()
        if not await self.try_acquire(without_database=True):
            message = await self.refusal()
            await self._close_connection()
            self.unlock_file()
            raise AlreadyRunning(message)

    async def wait(self, stop: asyncio.Event) -> bool:
        """Standby until the advisory lock is ours (True) or `stop` is set (False)."""
        polls = 0
        while not stop.is_set():
            if await self.try_acquire():
                return True
            if polls % ADVERTISE_EVERY == 0:
                await self._read_active()
            polls += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)
        await self._close_connection()
        return False

    async def try_acquire(self, *, without_database: bool = False) -> bool:
        """One attempt at the advisory lock (the file lock is held already); False when
        another daemon holds it. `without_database`: a database that does not answer
        starts the daemon without it (a lone daemon's first start; never a standby's)."""
        if self.dsn is None:
            self._start_turn(confirmed=False)
            return True
        locked = await self._lock_database()
        if locked is None and without_database:
            log.warning("instance.database_unavailable", app=self.app, locked="file only")
            self._start_turn(confirmed=False)
            return True
        if not locked:
            return False
        self._start_turn(confirmed=True)
        return True

    def _start_turn(self, *, confirmed: bool) -> None:
        self.lease = Lease()
        if confirmed:
            self.lease.confirm(self.clock(), 0)
        self.lost = asyncio.Event()
        self.active = None
        log.info("instance.locked", app=self.app, database=confirmed)
        if self.dsn is not None:
            self._keeper = asyncio.create_task(self._keep(), name="instance-lock")

    async def release(self) -> None:
        """End this turn: the advisory lock goes (the file lock stays: `unlock_file`)."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        self.on_lost = lambda why: None
        await self._close_connection()

    async def refusal(self) -> str:
        """Where the daemon holding the advisory lock is, for `AlreadyRunning`."""
        where = "a session of the same database"
        if self._conn is not None:
            with contextlib.suppress(*db.UNAVAILABLE, db.PostgresError):
                rows = await self._conn.fetch(_HOLDER_SQL, self.application_name, timeout=2.0)
                if rows:
                    addr = rows[0]["client_addr"] or "a local socket"
                    where = f"database session pid {rows[0]['pid']} from {addr}"
        return (
            f"another frontdesk daemon is running for app '{self.app}'{self._at_site} ({where}, "
            f"application_name '{self.application_name}' in pg_stat_activity)"
        )

    # -- the file lock ----------------------------------------------------------------------
    def lock_file(self) -> None:
        """The data directory's lock, for the whole life of the process (a standby's too:
        the spool and the private database are one daemon's), or `AlreadyRunning`."""
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read(fd)
            os.close(fd)
            standby = (
                " A standby on this host needs its own FRONTDESK_DATA_DIR."
                if self.dsn is not None
                else ""
            )
            raise AlreadyRunning(
                f"another frontdesk daemon is running for app '{self.app}' on this host "
                f"({other or 'holder unknown'}; lock file {self.path}). Stop it first "
                f"(`kill -TERM <pid>`), or give this one another FRONTDESK_APP.{standby}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder}\n".encode())
        self._fd = fd

    def unlock_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the flock

    # -- the advisory lock ------------------------------------------------------------------
    async def _connect(self, name: str) -> db.Connection:
        assert self.dsn is not None
        try:
            conn = await db.connect(
                self.dsn,
                timeout=self.connect_timeout,
                server_settings={
                    "application_name": name,
                    **self._session,
                    **db.site_settings(self.site),
                },
            )
        except db.PostgresError as exc:
            if "idle_session_timeout" not in self._session:
                raise
            # PostgreSQL < 14: no idle_session_timeout; keepalives catch a machine gone,
            # ApplicationReplaced a frozen daemon (docs/scale.md).
            log.warning("instance.no_idle_session_timeout", error=type(exc).__name__)
            self._session.pop("idle_session_timeout")
            return await self._connect(name)
        self._backend = _server_pid(conn)
        return conn

    async def _lock_database(self) -> bool | None:
        """True: locked; False: another session holds it; None: the database is unreachable."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect(self.standby_name)
            conn = self._conn
            locked = bool(await conn.fetchval(_LOCK_SQL, self.name, timeout=QUERY_TIMEOUT))
            if locked:  # from now on the holder's name, for pg_stat_activity and a refusal
                rename = "SELECT set_config('application_name', $1, false)"
                await conn.execute(rename, self.application_name, timeout=QUERY_TIMEOUT)
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            if self.database_reachable is not False:
                log.warning("instance.database_unavailable", error=type(exc).__name__)
            self.database_reachable = False
            await self._close_connection()
            return None
        self.database_reachable = True
        return locked

    async def _keep(self) -> None:
        """The active's watch over its lock: check every CHECK_INTERVAL, renew the lease,
        end the turn when the lock is gone and a standby could have taken it."""
        ghost: int | None = None  # our previous session, which may still hold the lock
        while True:
            await asyncio.sleep(self.check_interval)
            if self.lease.lapsed(self.clock()):
                self.lose(f"no confirmed lock for {self.lease.duration:.0f} s")
                return
            conn = self._conn
            if conn is None:  # no lock: started without the database, or it was lost
                if await self._retake(ghost):
                    ghost = None
                continue
            sent = self.clock()
            try:
                standbys = await conn.fetchval(_CHECK_SQL, self.standby_name, timeout=QUERY_TIMEOUT)
            except TimeoutError:
                log.warning("instance.lock_check_slow", app=self.app)
                continue
            except (*db.UNAVAILABLE, db.PostgresError) as exc:
                log.warning("instance.lock_connection_lost", app=self.app, error=type(exc).__name__)
                ghost = self._backend
                await self._close_connection()
                if self.lease.standby_seen:
                    self.lose("lock connection lost")
                    return
                continue
            self.lease.confirm(sent, int(standbys or 0))

    async def _retake(self, ghost: int | None) -> bool:
        locked = await self._lock_database()
        if locked:
            log.info("instance.locked", app=self.app, database=True, again=True)
            self.lease.confirm(self.clock(), 0)
            return True
        if locked is False:
            if not await self._is_alive(ghost):
                self.lose("the lock was taken by another daemon")
            await self._close_connection()  # not a lock connection: try again next check
        return False

    async def _is_alive(self, backend: int | None) -> bool:
        """Our own lost session still holding the lock until the server drops it."""
        if backend is None or self._conn is None:
            return False
        with contextlib.suppress(*db.UNAVAILABLE, db.PostgresError):
            query = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
            return bool(await self._conn.fetchval(query, backend, timeout=QUERY_TIMEOUT))
        return True  # unknown: ask again at the next check

    # -- who is active (the standby's dashboard) ---------------------------------------------
    async def advertise(self, public_url: str | None) -> None:
        """The active says where its dashboard is (a standby redirects there)."""
        if self._conn is None:
            return
        try:
            await self._conn.execute(
                _ADVERTISE_SQL,
                self.app,
                self.host,
                os.getpid(),
                public_url,
                self.site,
                timeout=QUERY_TIMEOUT,
            )
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            log.warning("instance.not_advertised", error=type(exc).__name__)

    async def _read_active(self) -> None:
        if self._conn is None:
            return
        try:
            row = await self._conn.fetch(_ACTIVE_SQL, self.app, self.site, timeout=QUERY_TIMEOUT)
        except (*db.UNAVAILABLE, db.PostgresError):
            return  # not migrated yet, or the database is away: keep what we knew
        self.active = (
            ActiveDaemon(row[0]["host"], row[0]["pid"], row[0]["public_url"], row[0]["since"])
            if row
            else None
        )

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 1.0)
        if not conn.is_closed():
            conn.terminate()


def _server_pid(conn: db.Connection) -> int | None:
    get = getattr(conn, "get_server_pid", None)
    return int(get()) if callable(get) else None


def _safe(app: str) -> str:
    """The app name as a file name (ARI app names are free text)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in app) or "app"


def _read(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""
