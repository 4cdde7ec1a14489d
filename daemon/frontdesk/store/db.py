"""A narrow typed view of asyncpg (which ships no type stubs): only what the store uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
import structlog

from frontdesk.phone import mask_number

log = structlog.get_logger("frontdesk.store")
T = TypeVar("T")


class Transaction(Protocol):
    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> Any: ...


class Connection(Protocol):
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...
    async def executemany(
        self, command: str, args: Sequence[Sequence[Any]], *, timeout: float | None = None
    ) -> None: ...
    async def fetch(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> list[Mapping[str, Any]]: ...
    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...
    def transaction(self) -> Transaction: ...
    async def close(self, *, timeout: float | None = None) -> None: ...
    def terminate(self) -> None: ...
    def is_closed(self) -> bool: ...


class Pool(Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...

    async def close(self) -> None: ...


# Errors that mean "the database is unreachable or too slow", as opposed to a record the
# database refuses (those are PostgresError subclasses such as IntegrityConstraintViolation).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.UndefinedTableError,  # not migrated yet: keep the records, never drop
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a replica, or a demoted primary
    # A multi-host URL with target_session_attrs=read-write while no host accepts writes
    # (a failover in progress): wait for the promotion like for any outage.
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)
PostgresError = cast(type[Exception], asyncpg.PostgresError)


async def connect(
    dsn: str, *, timeout: float, server_settings: Mapping[str, str] | None = None
) -> Connection:
    conn = await asyncpg.connect(dsn, timeout=timeout, server_settings=dict(server_settings or {}))
    return cast(Connection, conn)


DEFAULT_SITE = "main"
# The site of the connection's writer and reader (migration 0011): the server setting
# `frontdesk.site`, else the default site (a script, `frontdesk db upgrade`).
CURRENT_SITE = "coalesce(nullif(current_setting('frontdesk.site', true), ''), 'main')"


def site_settings(site: str | None) -> dict[str, str]:
    """The server settings that make a connection's rows belong to `site` (every column
    `site` defaults to it) and its reads of "this site" mean it."""
    return {} if site is None else {"frontdesk.site": site}


async def create_pool(
    dsn: str,
    *,
    timeout: float,
    max_size: int = 4,
    server_settings: Mapping[str, str] | None = None,
) -> Pool:
    """A small pool for the call path (caller lookup); min_size 0: no connection at start.

    A released connection skips asyncpg's reset query (advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL), a round trip between a caller's StasisStart and the answer:
    users of the pool never leave session state behind (no SET, LISTEN, cursors outside
    a transaction; migrations unlock their own lock). An open transaction is still
    rolled back. `server_settings`: e.g. `site_settings(site)`.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        timeout=timeout,
        reset=_keep_session,
        server_settings=dict(server_settings or {}),
    )
    return cast(Pool, pool)


async def _keep_session(_: object) -> None:
    """Pool reset: nothing beyond asyncpg's own rollback of an open transaction."""


class BoundedRead(Generic[T]):
    """A database read on the call path: an answer within `timeout`, or None. Never raises.

    The read runs in a task of its own: on a stalled network asyncpg's release of a
    cancelled connection can block far longer than `timeout`, so the caller stops waiting
    at `timeout` and the task is finished off in the background. The first failure of an
    outage is logged (`store.<what>_unavailable`, number masked), and so is the recovery.
    """

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.down = False
        self._abandoned: set[asyncio.Future[T]] = set()

    async def run(self, read: Awaitable[T], number: str) -> T | None:
        task = asyncio.ensure_future(read)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if task not in done:
            self._abandon(task)
            self._failed(number, "TimeoutError")
            return None
        error = task.exception()
        if error is not None:
            self._failed(number, type(error).__name__)
            return None
        if self.down:
            self.down = False
            log.info(f"store.{self.what}_recovered")
        return task.result()

    def _failed(self, number: str, error: str) -> None:
        if not self.down:
            self.down = True
            log.warning(f"store.{self.what}_unavailable", caller=mask_number(number), error=error)

    def _abandon(self, task: asyncio.Future[T]) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Future[T]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
