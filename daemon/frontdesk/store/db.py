"""A narrow typed view of asyncpg (which ships no type stubs): only what the store uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, cast

import asyncpg  # type: ignore[import-untyped]


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
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)
PostgresError = cast(type[Exception], asyncpg.PostgresError)


async def connect(
    dsn: str, *, timeout: float, server_settings: Mapping[str, str] | None = None
) -> Connection:
    conn = await asyncpg.connect(dsn, timeout=timeout, server_settings=dict(server_settings or {}))
    return cast(Connection, conn)


async def create_pool(dsn: str, *, timeout: float, max_size: int = 4) -> Pool:
    """A small pool for the call path (caller lookup); min_size 0: no connection at start."""
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=max_size, timeout=timeout)
    return cast(Pool, pool)
