"""Versioned plain-SQL migrations (`migrations/NNNN_name.sql`), applied by `upgrade()`.

Each file runs in its own transaction and is recorded in `schema_migrations` (version,
name, sha256 of the text). `upgrade()` holds a PostgreSQL advisory lock keyed on the
current schema, so that daemons started together apply each migration once. An applied
migration whose file has changed since is an error (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import cast

import structlog

from frontdesk.store.db import Connection, Pool

log = structlog.get_logger("frontdesk.store")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_CLASS = 0x0F0D  # first half of the advisory lock key; the second is the schema's hash


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found: list[Migration] = []
    folder = resources.files("frontdesk.store").joinpath("migrations")
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def upgrade(db: Connection | Pool, *, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the pending migrations; return the versions applied now (empty: up to date)."""
    todo = available() if migrations is None else migrations
    if not hasattr(db, "acquire"):  # a connection, not a pool
        return await _upgrade(db, todo)
    async with cast(Pool, db).acquire() as conn:
        return await _upgrade(conn, todo)


async def _upgrade(conn: Connection, migrations: list[Migration]) -> list[int]:
    await conn.execute("SELECT pg_advisory_lock($1, hashtext(current_schema()))", _LOCK_CLASS)
    try:
        await conn.execute(_BOOKKEEPING)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {int(r["version"]): str(r["checksum"]) for r in rows}
        done: list[int] = []
        for migration in migrations:
            known = applied.get(migration.version)
            if known is not None:
                if known != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed "
                        "after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("store.migrated", version=migration.version, name=migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))", _LOCK_CLASS)
