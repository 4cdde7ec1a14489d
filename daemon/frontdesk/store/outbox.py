"""The outbox: call records reach PostgreSQL without ever holding up a call.

`Outbox.put(record)` appends to an in-memory queue and returns at once. One writer task
takes the records in order and writes them in batches (a small one waits `linger` for
more), each batch one transaction under `statement_timeout` and a client-side deadline
(a stalled network is caught too), a few statements per record type (see SQL below).

When PostgreSQL is unreachable, too slow, or refuses the connection, the records in
memory, and every record put after them until the database is back, are appended to the
spool (fsync'd JSON lines). The writer reconnects with exponential backoff; once
connected it replays the whole spool, in order, before anything newer, then empties it.
Writes are idempotent (every record has a unique key), so a replay that is interrupted
and run again, or a batch that committed although its reply was lost, adds nothing.

A record the database refuses (a data error, not an outage) is retried alone and, if
refused again, logged and appended to `<spool>.rejected` so that it never blocks the
records behind it.

Failover (a multi-host `FRONTDESK_DATABASE_URL` with `target_session_attrs=read-write`,
or one address that a managed service moves): a replica promoted after the primary died
may lack the last transactions the primary committed, as asynchronous streaming
replication sends WAL after the commit. So the records written in the last
`recent_window` seconds are kept in memory, and when a new connection lands on a
different server (another address or port, or a server started since: a promotion
restarts nothing, but another host or a restarted one differs), they are written again,
in order, before the spool and anything newer. What the new server already has is
skipped (idempotent writes), what it lost is written, so a failover loses and doubles
nothing as long as the replica's lag stays under the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import structlog

from frontdesk.store.db import UNAVAILABLE, Connection, PostgresError, connect
from frontdesk.store.records import (
    CALL_FIELDS,
    AgentPresence,
    AgentStateChange,
    AuditEntry,
    CallEvent,
    CallUpsert,
    Disposition,
    PendingCallback,
    Record,
    RecordError,
    from_json,
    to_json,
)
from frontdesk.store.spool import DEFAULT_MAX_LINE_BYTES, Spool

log = structlog.get_logger("frontdesk.store")
# Records a batch never lingers for: what a restart reads back.
_URGENT: Final = (PendingCallback, AgentPresence)
# Which server a connection reached: a change means a failover (or a restart).
_SERVER_SQL: Final = (
    "SELECT coalesce(inet_server_addr()::text, 'socket') || ':' || "
    "coalesce(inet_server_port()::text, '') || '@' || pg_postmaster_start_time()::text "
    "|| ':' || pg_is_in_recovery()::text"
)


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
        linger: float = 0.05,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        recent_window: float = 120.0,
        recent_max: int = 200_000,
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
        self.linger = linger
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.written = 0  # records written to PostgreSQL straight from memory
        self.spooled = 0  # records appended to the spool
        self.replayed = 0  # spool lines replayed into PostgreSQL
        self.refused = 0  # records PostgreSQL refused (see `<spool>.rejected`)
        self.rewritten = 0  # recent records written again after a failover
        self.recent_window = recent_window
        self.recent_max = recent_max
        self._recent: deque[tuple[float, Record]] = deque()  # (loop time written, record)
        self._server: str | None = None  # the server the last connection reached
        self._rewrite_pending = False
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
        fresh = False  # a new connection: which server is it?
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
                fresh = True
            try:
                if fresh:
                    await self._check_server()
                    fresh = False
                if self._rewrite_pending:
                    await self._rewrite_recent()
                if self._spool_pending:
                    await self._replay()
                if self._queue:
                    await self._linger()
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

    async def _linger(self) -> None:
        """Let a small batch grow for `linger` seconds: a transaction costs about the same
        for one record as for a hundred, and calls put a few records each. A pending
        callback never waits: until it is written, a crash would forget the patient;
        nor does a login, logout or pause (a restart brings back what is written)."""
        small = len(self._queue) < self.batch_size and not self._stopping
        urgent = any(isinstance(record, _URGENT) for record in self._queue)
        if self.linger > 0 and small and not urgent:
            await asyncio.sleep(self.linger)

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

    async def _check_server(self) -> None:
        """Note which server this connection reached; another one than before means the
        records written lately may be missing there (see the module's docstring)."""
        conn = self._conn
        assert conn is not None
        server = str(await conn.fetchval(_SERVER_SQL, timeout=self.write_timeout))
        if self._server is not None and server != self._server and self._recent:
            log.warning("store.server_changed", rewriting=len(self._recent))
            self._rewrite_pending = True
        self._server = server

    async def _rewrite_recent(self) -> None:
        records = [record for _, record in self._recent]
        for start in range(0, len(records), self.batch_size):
            await self._write(records[start : start + self.batch_size])
        self._rewrite_pending = False
        self.rewritten += len(records)
        log.info("store.recent_rewritten", records=len(records))

    def _remember(self, batch: list[Record]) -> None:
        """Keep what was just committed for `recent_window` seconds (a failover's rewrite)."""
        if self.recent_window <= 0:
            return
        at = asyncio.get_running_loop().time()
        self._recent.extend((at, record) for record in batch)
        while self._recent and (
            len(self._recent) > self.recent_max or at - self._recent[0][0] > self.recent_window
        ):
            self._recent.popleft()

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
        self._remember(batch)
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
                self._remember(batch)
                replayed += len(batch)
                batch = []
        if batch:
            await self._write(batch)
            self._remember(batch)
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
            for chunk in _chunks(batch):
                await _apply_chunk(conn, chunk)


# --- SQL ------------------------------------------------------------------------------
# A batch is written a few statements per record type (arrays through `unnest`), not a
# round trip per record. The effect is that of applying its records one by one, in
# order: each table's rows are written in the batch's order, a call's upserts are merged
# in rounds (the n-th upsert of every call in round n, so every intermediate row meets
# the constraints as before), and `_chunks` cuts the batch where writing by type would
# reorder two records that set the same column.

# The array type each `calls` column travels as (jsonb as text, cast in the statement).
_ARRAY_TYPES: Final[Mapping[str, str]] = {
    "text": "text[]",
    "int": "int4[]",
    "bool": "bool[]",
    "timestamptz": "timestamptz[]",
    "jsonb": "text[]",
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _chunks(batch: list[Record]) -> Iterator[list[Record]]:
    """The batch, cut before a CallUpsert that sets `disposition` on a call that has a
    Disposition earlier in the chunk (a chunk writes its upserts before its dispositions)."""
    chunk: list[Record] = []
    disposed: set[str] = set()
    for record in batch:
        if (
            isinstance(record, CallUpsert)
            and record.linkedid in disposed
            and record.fields.get("disposition") is not None
        ):
            yield chunk
            chunk, disposed = [], set()
        if isinstance(record, Disposition):
            disposed.add(record.linkedid)
        chunk.append(record)
    if chunk:
        yield chunk


async def _apply_chunk(conn: Connection, chunk: list[Record]) -> None:
    upserts = [r for r in chunk if isinstance(r, CallUpsert)]
    events = [r for r in chunk if isinstance(r, CallEvent)]
    fresh = await _claim_upserts(conn, upserts) if upserts else []
    bare = await _merge_upserts(conn, fresh)
    # Events may come before the call's first upsert; a replayed upsert creates nothing.
    await _add_calls(conn, [r.linkedid for r in events] + bare)
    for record in chunk:
        if isinstance(record, Disposition):
            await _add_disposition(conn, record)
    if events:
        await _add_events(conn, events)
    changes = [r for r in chunk if isinstance(r, AgentStateChange)]
    if changes:
        await _add_agent_changes(conn, changes)
    entries = [r for r in chunk if isinstance(r, AuditEntry)]
    if entries:
        await _add_audit_entries(conn, entries)
    callbacks = [r for r in chunk if isinstance(r, PendingCallback)]
    if callbacks:
        await _save_callbacks(conn, callbacks)
    presence = [r for r in chunk if isinstance(r, AgentPresence)]
    if presence:
        await _save_presence(conn, presence)


async def _add_calls(conn: Connection, linkedids: list[str]) -> None:
    if linkedids:
        await conn.execute(
            "INSERT INTO calls (linkedid) SELECT unnest($1::text[])"
            " ON CONFLICT (linkedid) DO NOTHING",
            list(dict.fromkeys(linkedids)),
        )


async def _claim_upserts(conn: Connection, upserts: list[CallUpsert]) -> list[CallUpsert]:
    """The upserts not merged before (a replay merges nothing), in order, each key once."""
    rows = await conn.fetch(
        "INSERT INTO call_upserts_applied (upsert_key, linkedid)"
        " SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT (upsert_key) DO NOTHING RETURNING upsert_key",
        [r.key for r in upserts],
        [r.linkedid for r in upserts],
    )
    claimed = {row["upsert_key"] for row in rows}
    fresh = []
    for record in upserts:
        if record.key in claimed:
            claimed.discard(record.key)  # the same key twice in a batch merges once
            fresh.append(record)
    return fresh


async def _merge_upserts(conn: Connection, upserts: list[CallUpsert]) -> list[str]:
    """Merge the upserts' fields; the calls of those without any, to make bare rows for.

    Round n holds the n-th upsert (with fields) of each call, so a call's rounds run in
    order and later non-null fields win; a round's calls differ, so its statements
    (one per set of columns) touch different rows.
    """
    rounds: list[dict[str, tuple[dict[str, Any], frozenset[str]]]] = []
    seen: dict[str, int] = {}
    bare: list[str] = []
    for record in upserts:
        fields = record.present()
        if not fields:
            bare.append(record.linkedid)
            continue
        n = seen.get(record.linkedid, 0)
        seen[record.linkedid] = n + 1
        if n == len(rounds):
            rounds.append({})
        rounds[n][record.linkedid] = (fields, record.fill.intersection(fields))
    for rows in rounds:
        by_shape: dict[tuple[tuple[str, ...], frozenset[str]], list[tuple[str, dict[str, Any]]]]
        by_shape = {}
        for linkedid, (fields, fill) in rows.items():
            by_shape.setdefault((tuple(fields), fill), []).append((linkedid, fields))
        for (columns, fill), group in by_shape.items():
            await _upsert_calls(conn, columns, group, fill)
    return bare


async def _upsert_calls(
    conn: Connection,
    columns: tuple[str, ...],
    rows: list[tuple[str, dict[str, Any]]],
    fill: frozenset[str] = frozenset(),
) -> None:
    """Insert or merge calls (each once) that all set exactly `columns`; those in `fill`
    only where the row's column is NULL (records.py: the Cdr's times never overwrite)."""
    # Column names come from CALL_FIELDS only (checked when the record was made).
    names = [name for name in columns if name in CALL_FIELDS]
    arrays: list[list[Any]] = [[linkedid for linkedid, _ in rows]]
    for name in names:
        if CALL_FIELDS[name] == "jsonb":
            arrays.append([_json(fields[name]) for _, fields in rows])
        else:
            arrays.append([fields[name] for _, fields in rows])
    types = "".join(f", ${i}::{_ARRAY_TYPES[CALL_FIELDS[n]]}" for i, n in enumerate(names, 2))
    values = "".join(f", {n}::jsonb" if CALL_FIELDS[n] == "jsonb" else f", {n}" for n in names)
    updates = "".join(
        f"{n} = COALESCE(calls.{n}, EXCLUDED.{n}), " if n in fill else f"{n} = EXCLUDED.{n}, "
        for n in names
    )
    await conn.execute(
        f"INSERT INTO calls (linkedid, {', '.join(names)}) SELECT linkedid{values}"
        f" FROM unnest($1::text[]{types}) AS u(linkedid, {', '.join(names)})"
        f" ON CONFLICT (linkedid) DO UPDATE SET {updates}updated_at = now()",
        *arrays,
    )


async def _insert_new(
    conn: Connection, table: str, key: str, columns: list[tuple[str, str]], values: list[list[Any]]
) -> None:
    """One statement for a batch of append-only rows: arrays through `unnest`, rows whose
    `key` is already there skipped (a replay from the spool writes nothing twice)."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]" for i, (_, kind) in enumerate(columns, 1)
    )
    picks = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in columns)
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {picks} FROM unnest({arrays}) AS u({names})"
        f" ON CONFLICT ({key}) DO NOTHING",
        *values,
    )


async def _add_events(conn: Connection, events: list[CallEvent]) -> None:
    columns = [("linkedid", "text"), ("event_key", "text"), ("at", "timestamptz"),
               ("kind", "text"), ("data", "jsonb")]  # fmt: skip
    values: list[list[Any]] = [
        [r.linkedid for r in events],
        [r.key for r in events],
        [r.at for r in events],
        [r.kind for r in events],
        [_json(dict(r.data)) for r in events],
    ]
    await _insert_new(conn, "call_events", "event_key", columns, values)


async def _add_agent_changes(conn: Connection, changes: list[AgentStateChange]) -> None:
    columns = [("change_key", "text"), ("agent", "text"), ("at", "timestamptz"),
               ("state", "text"), ("reason", "text"), ("data", "jsonb")]  # fmt: skip
    values: list[list[Any]] = [
        [r.key for r in changes],
        [r.agent for r in changes],
        [r.at for r in changes],
        [r.state for r in changes],
        [r.reason for r in changes],
        [_json(dict(r.data)) for r in changes],
    ]
    await _insert_new(conn, "agent_state_changes", "change_key", columns, values)


async def _add_audit_entries(conn: Connection, entries: list[AuditEntry]) -> None:
    columns = [("entry_key", "text"), ("at", "timestamptz"), ("actor", "text"),
               ("action", "text"), ("subject", "text"), ("data", "jsonb")]  # fmt: skip
    values: list[list[Any]] = [
        [r.key for r in entries],
        [r.at for r in entries],
        [r.actor for r in entries],
        [r.action for r in entries],
        [r.subject for r in entries],
        [_json(dict(r.data)) for r in entries],
    ]
    await _insert_new(conn, "audit_log", "entry_key", columns, values)


_CALLBACK_COLUMNS: Final = (
    ("call_id", "text"), ("revision", "int4"), ("status", "text"), ("queue", "text"),
    ("priority", "text"), ("skill", "text"), ("language_skill", "text"),
    ("category", "text"), ("language", "text"), ("number", "text"),
    ("enqueued_at", "timestamptz"), ("attempts", "int4"), ("retry_at", "timestamptz"),
    ("escalated", "bool"), ("updated_at", "timestamptz"),
)  # fmt: skip


async def _save_callbacks(conn: Connection, records: list[PendingCallback]) -> None:
    """Each callback's latest state: a row keeps its highest revision (a replayed or late
    record changes nothing), so only the chunk's latest revision per call is sent."""
    latest: dict[str, PendingCallback] = {}
    for record in records:
        if record.call_id not in latest or latest[record.call_id].revision < record.revision:
            latest[record.call_id] = record
    rows = list(latest.values())
    values = [
        [getattr(r, "at" if n == "updated_at" else n) for r in rows] for n, _ in _CALLBACK_COLUMNS
    ]
    names = ", ".join(name for name, _ in _CALLBACK_COLUMNS)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_CALLBACK_COLUMNS, 1))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in _CALLBACK_COLUMNS[1:])
    await conn.execute(
        f"INSERT INTO pending_callbacks AS p ({names}) SELECT * FROM unnest({arrays})"
        f" ON CONFLICT (call_id) DO UPDATE SET {updates} WHERE p.revision < EXCLUDED.revision",
        *values,
    )


async def _save_presence(conn: Connection, records: list[AgentPresence]) -> None:
    """Each agent's latest presence: a row keeps its highest revision (a replayed or late
    record changes nothing), so only the chunk's latest revision per agent is sent."""
    latest: dict[str, AgentPresence] = {}
    for record in records:
        if record.agent not in latest or latest[record.agent].revision < record.revision:
            latest[record.agent] = record
    rows = list(latest.values())
    await conn.execute(
        "INSERT INTO agent_presence AS p"
        " (agent, revision, logged_in, paused, pause_reason, changed_at)"
        " SELECT * FROM unnest($1::text[], $2::int8[], $3::bool[], $4::bool[], $5::text[],"
        " $6::timestamptz[])"
        " ON CONFLICT (site, agent) DO UPDATE SET revision = EXCLUDED.revision,"
        " logged_in = EXCLUDED.logged_in, paused = EXCLUDED.paused,"
        " pause_reason = EXCLUDED.pause_reason, changed_at = EXCLUDED.changed_at"
        " WHERE p.revision < EXCLUDED.revision",
        [r.agent for r in rows],
        [r.revision for r in rows],
        [r.logged_in for r in rows],
        [r.paused for r in rows],
        [r.pause_reason for r in rows],
        [r.at for r in rows],
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
