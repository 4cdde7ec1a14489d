"""The database's failures as a command's refusal (`Refused`): the command prints
`frontdesk <command>: <message>` on stderr and exits 2. Shared by `frontdesk db upgrade`,
`directory import`, `report`, `golive verify` and `users`.

Messages name the failure, never the URL (it may carry a password). With `detail=False`
they name only the error's type, not the driver's message (`golive verify`).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from asyncpg.exceptions import UndefinedTableError  # type: ignore[import-untyped]

from frontdesk.store import db
from frontdesk.store.migrations import MigrationError

CONNECT_TIMEOUT = 10.0
ENV = "FRONTDESK_DATABASE_URL"
T = TypeVar("T")


class Refused(Exception):
    """Reported on stderr as `frontdesk <command>: <message>`, exit 2."""


def database_url(given: str | None, env: Mapping[str, str] = os.environ) -> str:
    """`--database-url`, else FRONTDESK_DATABASE_URL; `Refused` when neither is set."""
    dsn = given or env.get(ENV)
    if not dsn:
        raise Refused(f"no database: give --database-url or set {ENV}")
    return dsn


def _failure(exc: BaseException, detail: bool) -> str:
    return f"{type(exc).__name__}: {exc}" if detail else type(exc).__name__


async def connect(dsn: str, *, detail: bool = True) -> db.Connection:
    """A connection (within `CONNECT_TIMEOUT`), or `Refused`: unreachable, or refused."""
    try:
        return await db.connect(dsn, timeout=CONNECT_TIMEOUT)
    except db.UNAVAILABLE as exc:
        raise Refused(f"the database is unreachable ({_failure(exc, detail)})") from None
    except ValueError:  # the driver's message may quote part of the URL's password
        raise Refused(
            "the database URL is malformed (percent-encode special characters in the password)"
        ) from None
    except db.PostgresError as exc:
        raise Refused(f"cannot connect to the database ({_failure(exc, detail)})") from None


async def read_calls(
    dsn: str, load: Callable[[db.Connection], Awaitable[T]], *, detail: bool = True
) -> T:
    """`load` on a connection of its own, closed after; `Refused` when the database cannot
    be reached, has no `calls` table yet (not migrated), or cannot be read."""
    conn = await connect(dsn, detail=detail)
    try:
        return await load(conn)
    except UndefinedTableError:
        raise Refused("no calls table: run `frontdesk db upgrade` first") from None
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        raise Refused(f"cannot read the calls ({_failure(exc, detail)})") from None
    finally:
        await conn.close()


@contextmanager
def refusing(failed: str) -> Iterator[None]:
    """The database's errors inside as `Refused`: "the database is unreachable (...)", or
    `<failed>: <error>` for a failed migration or a statement the database refused."""
    try:
        yield
    except db.UNAVAILABLE as exc:
        raise Refused(f"the database is unreachable ({type(exc).__name__}: {exc})") from None
    except (MigrationError, db.PostgresError) as exc:
        raise Refused(f"{failed}: {exc}") from None
