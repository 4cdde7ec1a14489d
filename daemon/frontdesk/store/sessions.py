"""Dashboard sessions in PostgreSQL (`staff_sessions`, migration 0009).

The daemon keeps its sessions in memory as a write-through cache (web/auth.py); this
module is what it writes and reads, and what `frontdesk users sessions` / `revoke` use.

- Only `session_hash(cookie)` (sha256, hex) is stored, never the cookie's value. A
  session is shown and named by the first `PREFIX` hex digits of that hash
  (`public_id`), which say nothing of the cookie.
- `end_user_sessions` (disable, a new password, `users revoke`) and `end_session`
  (logout) end sessions and, in the same transaction, `NOTIFY frontdesk_sessions` with
  the username: every daemon LISTENing (`SessionStore.listen`) checks that user's
  sessions at once. The notification is only a hint (anyone may NOTIFY): the row is what
  counts, and each daemon also checks every session it serves every few seconds.
- `expire_sessions` ends open sessions past their lifetime or idle time (by the daemon's
  clock); `purge_sessions` deletes rows ended more than `RETENTION` ago, in batches.

Every function taking a `Connection` runs as one statement or in one transaction;
`SessionStore` runs them on a small pool of its own, each bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

import structlog

from frontdesk.staff import Role, StaffUser
from frontdesk.store import db
from frontdesk.store.db import Connection, Pool

log = structlog.get_logger("frontdesk.store")

CHANNEL: Final = "frontdesk_sessions"
PREFIX: Final = 12  # hex digits of the hash that name a session in listings
MIN_PREFIX: Final = 6  # at least this many to revoke one session by its prefix
REASONS: Final = ("logout", "replaced", "disabled", "password", "revoked", "expired")
RETENTION: Final = timedelta(days=7)  # ended sessions' rows are deleted after this
MAX_CLIENT: Final = 64
MAX_USER_AGENT: Final = 160
TIMEOUT: Final = 2.0
_HEX: Final = re.compile(r"^[0-9a-f]{1,64}$")


def session_hash(sid: str) -> str:
    """What is stored of a session id (the cookie's value): its sha256, hex."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def public_id(id_hash: str) -> str:
    return id_hash[:PREFIX]


def clip(text: str | None, limit: int) -> str | None:
    """A client-supplied text for the listing: printable, at most `limit` characters."""
    if text is None:
        return None
    cleaned = "".join(c if c.isprintable() else "?" for c in text[: limit * 2])
    return cleaned[:limit] or None


@dataclass(frozen=True)
class NewSession:
    id_hash: str
    username: str
    csrf: str
    created: datetime
    expires: datetime
    idle: timedelta
    client: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class StoredSession:
    """A session as a daemon reads it back, with its account as it is now."""

    id_hash: str
    user: StaffUser
    csrf: str
    created: datetime
    last_seen: datetime
    expires: datetime
    ended_reason: str | None  # None: open
    account_disabled: bool

    @property
    def open(self) -> bool:
        return self.ended_reason is None and not self.account_disabled


@dataclass(frozen=True)
class SessionInfo:
    """An open session as `frontdesk users sessions` lists it."""

    id_hash: str
    username: str
    created: datetime
    last_seen: datetime
    expires: datetime
    client: str | None
    user_agent: str | None

    @property
    def id(self) -> str:
        return public_id(self.id_hash)


# -- statements (a connection, or a pool's) ----------------------------------------------
async def insert_session(conn: Connection, new: NewSession) -> None:
    await conn.execute(
        "INSERT INTO staff_sessions (id_hash, username, csrf, created_at, last_seen,"
        " expires_at, idle_s, client, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
        new.id_hash,
        new.username,
        new.csrf,
        new.created,
        new.expires,
        max(1, int(new.idle.total_seconds())),
        clip(new.client, MAX_CLIENT),
        clip(new.user_agent, MAX_USER_AGENT),
    )


_READ_COLUMNS = (
    "s.id_hash, s.csrf, s.created_at, s.last_seen, s.expires_at, s.ended_reason,"
    " a.username, a.display_name, a.role, a.extension, a.disabled, a.site, a.sites"
)


async def read_session(
    conn: Connection, id_hash: str, seen: datetime | None = None
) -> StoredSession | None:
    """The session and its account now; with `seen`, its `last_seen` is moved up to it
    first (one statement either way). None when there is no such session."""
    if seen is None:
        rows = await conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM staff_sessions AS s"
            " JOIN staff_accounts AS a ON a.username = s.username WHERE s.id_hash = $1",
            id_hash,
        )
    else:
        rows = await conn.fetch(
            "UPDATE staff_sessions AS s SET last_seen = greatest(s.last_seen, $2)"
            f" FROM staff_accounts AS a WHERE s.id_hash = $1 AND a.username = s.username"
            f" RETURNING {_READ_COLUMNS}",
            id_hash,
            seen,
        )
    return _stored(rows[0]) if rows else None


def _stored(row: Mapping[str, Any]) -> StoredSession:
    return StoredSession(
        id_hash=str(row["id_hash"]),
        user=StaffUser(
            str(row["username"]),
            str(row["display_name"]),
            cast(Role, row["role"]),
            row["extension"],
            site=str(row["site"]),
            sites=tuple(row["sites"] or ()),
        ),
        csrf=str(row["csrf"]),
        created=row["created_at"],
        last_seen=row["last_seen"],
        expires=row["expires_at"],
        ended_reason=row["ended_reason"],
        account_disabled=bool(row["disabled"]),
    )


async def end_session(conn: Connection, id_hash: str, reason: str) -> bool:
    """End one session (logout); False when it was not open. Notifies its user's daemons."""
    _check_reason(reason)
    async with conn.transaction():
        rows = await conn.fetch(
            "UPDATE staff_sessions SET ended_at = now(), ended_reason = $2"
            " WHERE id_hash = $1 AND ended_at IS NULL RETURNING username",
            id_hash,
            reason,
        )
        if rows:
            await _notify(conn, str(rows[0]["username"]))
    return bool(rows)


async def end_user_sessions(
    conn: Connection, username: str, reason: str, prefix: str | None = None
) -> list[str]:
    """End the open sessions of `username` (only those whose hash starts with `prefix`,
    when given); their hashes. Notifies every daemon listening, in the same transaction
    when the caller has one open (disable and a new password end sessions atomically)."""
    _check_reason(reason)
    if prefix is not None and not _HEX.match(prefix):
        raise ValueError("a session id is hex digits (as `frontdesk users sessions` shows)")
    async with conn.transaction():
        rows = await conn.fetch(
            "UPDATE staff_sessions SET ended_at = now(), ended_reason = $2"
            " WHERE username = $1 AND ended_at IS NULL"
            " AND ($3::text IS NULL OR starts_with(id_hash, $3::text)) RETURNING id_hash",
            username,
            reason,
            prefix,
        )
        await _notify(conn, username)
    return sorted(str(r["id_hash"]) for r in rows)


async def open_sessions(conn: Connection, username: str | None = None) -> list[SessionInfo]:
    """Open sessions (of `username`, or everyone's), oldest first."""
    rows = await conn.fetch(
        "SELECT id_hash, username, created_at, last_seen, expires_at, client, user_agent"
        " FROM staff_sessions WHERE ended_at IS NULL AND ($1::text IS NULL OR username = $1)"
        " ORDER BY created_at, id_hash",
        username,
    )
    return [
        SessionInfo(
            str(r["id_hash"]),
            str(r["username"]),
            r["created_at"],
            r["last_seen"],
            r["expires_at"],
            r["client"],
            r["user_agent"],
        )
        for r in rows
    ]


async def expire_sessions(conn: Connection, now: datetime) -> list[str]:
    """End (`expired`) the open sessions past their lifetime or idle time at `now` (the
    daemon's clock); the usernames, one per session ended."""
    rows = await conn.fetch(
        "UPDATE staff_sessions SET ended_at = now(), ended_reason = 'expired'"
        " WHERE ended_at IS NULL AND (expires_at <= $1"
        " OR last_seen + make_interval(secs => idle_s) <= $1) RETURNING username",
        now,
    )
    return [str(r["username"]) for r in rows]


async def purge_sessions(
    conn: Connection, retention: timedelta = RETENTION, batch: int = 1000
) -> int:
    """Delete the rows of sessions ended more than `retention` ago; how many."""
    deleted = 0
    while True:
        status = await conn.execute(
            "DELETE FROM staff_sessions WHERE id_hash IN (SELECT id_hash FROM staff_sessions"
            " WHERE ended_at IS NOT NULL AND ended_at < now() - $1::interval LIMIT $2)",
            retention,
            batch,
        )
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < batch:
            return deleted


async def _notify(conn: Connection, username: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, username)


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise ValueError(f"a session ends for one of {', '.join(REASONS)}, not {reason!r}")


# -- the daemon's store ------------------------------------------------------------------
class SessionStore:
    """The statements above on a small pool of the daemon's own (the call path's pool is
    left alone), each bounded by `timeout`; `listen` holds one more connection for
    `LISTEN frontdesk_sessions`, reconnecting after a failure."""

    def __init__(self, dsn: str, *, timeout: float = TIMEOUT, max_size: int = 2) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.max_size = max_size
        self._pool: Pool | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = False  # a LISTEN connection is up
        self.listener_pid: int | None = None  # its server process (tests)

    async def start(self) -> None:
        """Make the pool (no connection yet: the database may be down at start)."""
        if self._pool is None:
            self._pool = await db.create_pool(
                self.dsn, timeout=self.timeout, max_size=self.max_size
            )

    async def _run(self, action: Callable[[Connection], Any]) -> Any:
        if self._pool is None:
            raise RuntimeError("SessionStore.start() first")
        async with asyncio.timeout(self.timeout), self._pool.acquire() as conn:
            return await action(conn)

    async def insert(self, new: NewSession) -> None:
        await self._run(lambda conn: insert_session(conn, new))

    async def read(self, id_hash: str, seen: datetime | None = None) -> StoredSession | None:
        found: StoredSession | None = await self._run(
            lambda conn: read_session(conn, id_hash, seen)
        )
        return found

    async def end(self, id_hash: str, reason: str) -> bool:
        return bool(await self._run(lambda conn: end_session(conn, id_hash, reason)))

    async def end_user(self, username: str, reason: str) -> builtins.list[str]:
        ended: list[str] = await self._run(lambda conn: end_user_sessions(conn, username, reason))
        return ended

    async def expire(self, now: datetime) -> builtins.list[str]:
        ended: list[str] = await self._run(lambda conn: expire_sessions(conn, now))
        return ended

    async def purge(self, retention: timedelta = RETENTION) -> int:
        return int(await self._run(lambda conn: purge_sessions(conn, retention)))

    def listen(self, on_user: Callable[[str], None], *, retry: float = 2.0) -> None:
        """Calls `on_user(username)` for each notification, until `close`."""
        if self._listener is None:
            self._listener = asyncio.create_task(
                self._listen(on_user, retry), name="sessions-listen"
            )

    async def _listen(self, on_user: Callable[[str], None], retry: float) -> None:
        def received(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            on_user(payload)

        failed = False
        while True:
            conn: Any = None
            try:
                conn = await db.connect(self.dsn, timeout=self.timeout)
                await conn.add_listener(CHANNEL, received)
                self.listener_pid = conn.get_server_pid()
                self.listening = True
                if failed:
                    log.info("sessions.listening_again")
                    on_user("")  # notifications may have been missed: check every session
                failed = False
                while not conn.is_closed():
                    await asyncio.sleep(retry)
                    async with asyncio.timeout(self.timeout):
                        await conn.fetchval("SELECT 1")
                raise ConnectionError("the LISTEN connection closed")
            except Exception as exc:  # whatever broke the connection: a new one (a hint only)
                if not failed:
                    log.warning("sessions.listen_failed", error=type(exc).__name__)
                failed = True
            finally:
                self.listening = False
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(retry)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
