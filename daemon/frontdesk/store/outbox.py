"""The outbox: call records reach PostgreSQL without ever holding up a call.

`Outbox.put(record)` appends to an in-memory queue and returns at once. One writer task
takes the records in order and writes them in batches, each batch one transaction under
`statement_timeout` and a client-side deadline (a stalled network is caught too).

When PostgreSQL is unreachable, too slow, or refuses the connection, the records in
memory, and every record put after them until the database is back, are appended to the
spool (fsync'd JSON lines). The writer reconnects with exponential backoff; once
connected it replays the whole spool, in order, before anything newer, then empties it.
Writes are idempotent (every record has a unique key), so a replay that is interrupted
and run again, or a batch that committed although its reply was lost, adds nothing.

A record the database refuses (a data error, not an outage) is retried alone and, if
refused again, logged and appended to `<spool>.rejected` so that it never blocks the
records behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from frontdesk.store.db import UNAVAILABLE, Connection, PostgresError, connect
from frontdesk.store.records import (
    CALL_FIELDS,
    AgentStateChange,
    CallEvent,
    CallUpsert,
    Disposition,
    Record,
    RecordError,
    from_json,
    to_json,
)
from frontdesk.store.spool import DEFAULT_MAX_LINE_BYTES, Spool

log = structlog.get_logger("frontdesk.store")


class Outbox:
    def __init__(
        self,
        dsn: str,
        spool_path: Path | str,
        *,
        server_settings: Mapping[str, str] | None = None,
        statement_timeout: float = 5.0,
        write_timeout: float | None = None,
        connect_timeout: float = 5.0,
        batch_size: int = 200,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.dsn = dsn
        self.spool = Spool(spool_path, max_line_bytes=max_line_bytes)
        self.rejected = Spool(Path(str(spool_path) + ".rejected"), max_line_bytes=max_line_bytes)
        self.server_settings = {
            **dict(server_settings or {}),
            "statement_timeout": str(int(statement_timeout * 1000)),
        }
        self.write_timeout = write_timeout if write_timeout is not None else statement_timeout + 1
        self.connect_timeout = connect_timeout
        self.batch_size = batch_size
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.written = 0  # records written to PostgreSQL straight from memory
        self.spooled = 0  # records appended to the spool
        self.replayed = 0  # spool lines replayed into PostgreSQL
        self.refused = 0  # records PostgreSQL refused (see `<spool>.rejected`)
        self._queue: deque[Record] = deque()
        self._wakeup = asyncio.Event()
        self._settled = asyncio.Event()  # nothing in memory, nothing in the spool
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._spool_pending = bool(self.spool)

    # --- the API ------------------------------------------------------------------------

    def put(self, record: Record) -> None:
        """Queue a record for writing; never blocks, never raises for database trouble."""
        self._queue.append(record)
        self._settled.clear()
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="frontdesk-outbox")

    async def drain(self, timeout: float) -> bool:
        """Wait until every record is in PostgreSQL (memory and spool empty); False on timeout."""
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop: write what can be written within `timeout`, spool the rest."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                log.warning("store.close_timeout", pending=len(self._queue))
        if self._queue:
            self._spool_memory()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
            if not conn.is_closed():
                conn.terminate()

    # --- the writer ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._loop()
                return
            except Exception as exc:  # a bug must not silently stop all record keeping
                log.exception("store.writer_error", error=repr(exc))
                self._drop_connection()
                await self._spool_memory_async()
                await self._pause(self.backoff_max)
                if self._stopping:
                    return

    async def _loop(self) -> None:
        delay = self.backoff_initial
        outage = False
        while True:
            if self._conn is None:
                if self._stopping:
                    return
                try:
                    self._conn = await connect(
                        self.dsn,
                        timeout=self.connect_timeout,
                        server_settings=self.server_settings,
                    )
                except (*UNAVAILABLE, PostgresError) as exc:
                    if not outage:
                        log.warning("store.unavailable", error=repr(exc), spooling=True)
                    outage = True
                    await self._spool_memory_async()
                    await self._pause(delay)
                    delay = min(delay * 2, self.backoff_max)
                    continue
                if outage:
                    log.info("store.reconnected")
                outage = False
                delay = self.backoff_initial
            try:
                if self._spool_pending:
                    await self._replay()
                if self._queue:
                    await self._write_memory()
                    continue
            except UNAVAILABLE as exc:
                log.warning("store.unavailable", error=repr(exc), spooling=True)
                outage = True
                self._drop_connection()
                await self._spool_memory_async()
                continue
            if self._stopping:
                return
            self._settled.set()
            self._wakeup.clear()
            if not self._queue:
                await self._wakeup.wait()

    async def _pause(self, delay: float) -> None:
        """Sleep before reconnecting, but spool records put meanwhile at once."""
        loop = asyncio.get_running_loop()
        until = loop.time() + delay
        while not self._stopping:
            left = until - loop.time()
            if left <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), left)
            await self._spool_memory_async()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _spool_memory_async(self) -> None:
        """Move the records in memory to the spool; on a file error keep them in memory."""
        if not self._queue:
            return
        taken = len(self._queue)
        lines = [to_json(r) for r in self._queue]
        try:
            self.spooled += await asyncio.to_thread(self.spool.append, lines)
        except OSError as exc:
            log.error("store.spool_failed", error=repr(exc), pending=len(self._queue))
            return
        for _ in range(taken):  # records put while the file was written stay queued
            self._queue.popleft()
        self._spool_pending = True

    def _spool_memory(self) -> None:
        lines = [to_json(r) for r in self._queue]
        try:
            self.spooled += self.spool.append(lines)
        except OSError as exc:
            log.error("store.spool_failed", error=repr(exc), lost=len(lines))
            return
        finally:
            self._queue.clear()
        self._spool_pending = True

    async def _write_memory(self) -> None:
        batch = [self._queue[i] for i in range(min(self.batch_size, len(self._queue)))]
        await self._write(batch)
        for _ in batch:  # only now: a failed batch stays to be spooled, in order
            self._queue.popleft()
        self.written += len(batch)

    async def _replay(self) -> None:
        replayed = 0
        batch: list[Record] = []
        for obj in self.spool.read():
            try:
                batch.append(from_json(obj))
            except RecordError as exc:
                log.error("store.spool_record_skipped", key=obj.get("key"), error=str(exc))
                continue
            if len(batch) >= self.batch_size:
                await self._write(batch)
                replayed += len(batch)
                batch = []
        if batch:
            await self._write(batch)
            replayed += len(batch)
        await asyncio.to_thread(self.spool.clear)
        self._spool_pending = False
        self.replayed += replayed
        log.info("store.spool_replayed", records=replayed)

    async def _write(self, batch: list[Record]) -> None:
        """Write a batch in one transaction; a refused record is set aside, not retried."""
        conn = self._conn
        assert conn is not None
        try:
            await asyncio.wait_for(self._transaction(conn, batch), self.write_timeout)
        except UNAVAILABLE:
            raise
        except PostgresError:
            for record in batch:  # find the culprit(s): one transaction each
                try:
                    await asyncio.wait_for(self._transaction(conn, [record]), self.write_timeout)
                except UNAVAILABLE:
                    raise
                except PostgresError as exc:
                    self._refuse(record, exc)

    def _refuse(self, record: Record, exc: Exception) -> None:
        self.refused += 1
        log.error(
            "store.record_refused",
            type=type(record).__name__,
            key=record.key,
            error=type(exc).__name__,
            detail=str(exc),
        )
        try:
            self.rejected.append([{**to_json(record), "error": str(exc)}])
        except OSError as err:
            log.error("store.rejected_file_failed", error=repr(err))

    async def _transaction(self, conn: Connection, batch: list[Record]) -> None:
        async with conn.transaction():
            for record in batch:
                await _apply(conn, record)


# --- SQL ------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


async def _apply(conn: Connection, record: Record) -> None:
    if isinstance(record, CallEvent):
        await conn.execute(
            "INSERT INTO calls (linkedid) VALUES ($1) ON CONFLICT (linkedid) DO NOTHING",
            record.linkedid,
        )
        await conn.execute(
            "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (event_key) DO NOTHING",
            record.linkedid,
            record.key,
            record.at,
            record.kind,
            _json(dict(record.data)),
        )
    elif isinstance(record, CallUpsert):
        await _upsert_call(conn, record)
    elif isinstance(record, AgentStateChange):
        await conn.execute(
            "INSERT INTO agent_state_changes (change_key, agent, at, state, reason, data)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (change_key) DO NOTHING",
            record.key,
            record.agent,
            record.at,
            record.state,
            record.reason,
            _json(dict(record.data)),
        )
    elif isinstance(record, Disposition):
        await _add_disposition(conn, record)
    else:
        await conn.execute(
            "INSERT INTO audit_log (entry_key, at, actor, action, subject, data)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (entry_key) DO NOTHING",
            record.key,
            record.at,
            record.actor,
            record.action,
            record.subject,
            _json(dict(record.data)),
        )


async def _add_disposition(conn: Connection, record: Disposition) -> None:
    await conn.execute(
        "INSERT INTO calls (linkedid) VALUES ($1) ON CONFLICT (linkedid) DO NOTHING",
        record.linkedid,
    )
    added = await conn.fetchval(
        "INSERT INTO dispositions (disposition_key, linkedid, agent, at, code, note)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (disposition_key) DO NOTHING"
        " RETURNING true",
        record.key,
        record.linkedid,
        record.agent,
        record.at,
        record.code,
        record.note,
    )
    if not added:
        return  # already written (a replay)
    # The call's summary shows the latest disposition (by `at`), whatever the write order.
    await conn.execute(
        "UPDATE calls SET disposition = $2, updated_at = now() WHERE linkedid = $1"
        " AND NOT EXISTS (SELECT 1 FROM dispositions d WHERE d.linkedid = $1 AND d.at > $3)",
        record.linkedid,
        record.code,
        record.at,
    )


async def _upsert_call(conn: Connection, record: CallUpsert) -> None:
    first = await conn.fetchval(
        "INSERT INTO call_upserts_applied (upsert_key, linkedid) VALUES ($1, $2)"
        " ON CONFLICT (upsert_key) DO NOTHING RETURNING true",
        record.key,
        record.linkedid,
    )
    if not first:
        return  # already merged (a replay)
    fields = record.present()
    if not fields:
        await conn.execute(
            "INSERT INTO calls (linkedid) VALUES ($1) ON CONFLICT (linkedid) DO NOTHING",
            record.linkedid,
        )
        return
    # Column names come from CALL_FIELDS only (checked when the record was made).
    columns = [name for name in fields if name in CALL_FIELDS]
    values: list[Any] = []
    placeholders: list[str] = []
    for i, name in enumerate(columns, start=2):
        if CALL_FIELDS[name] == "jsonb":
            values.append(_json(fields[name]))
            placeholders.append(f"${i}::jsonb")
        else:
            values.append(fields[name])
            placeholders.append(f"${i}")
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns)
    await conn.execute(
        f"INSERT INTO calls (linkedid, {', '.join(columns)})"
        f" VALUES ($1, {', '.join(placeholders)})"
        f" ON CONFLICT (linkedid) DO UPDATE SET {updates}, updated_at = now()",
        record.linkedid,
        *values,
    )
