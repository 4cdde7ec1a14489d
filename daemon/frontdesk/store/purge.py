"""`frontdesk db purge`: delete call rows, their voicemail recordings and other dated rows
older than the retention (docs/store.md, "Retention and `db purge`").

- Calls started before the cutoff go with their `call_events`, `dispositions`,
  `callbacks` and `voicemails`; `agent_state_changes` before it; finished
  `pending_callbacks` (not `pending`) last changed before it.
- `audit_log` rows older than the audit retention (never under `MIN_AUDIT_DAYS`, six
  years; migration 0008 lets the trigger allow exactly that).
- Everything goes in batches of `batch` rows, one short transaction each, so a large
  purge never holds the tables' locks for long.
- Voicemail recordings (`call_events` kind `voicemail`, `data.recording`, and
  `voicemails.recording`) are deleted over ARI before their call's rows. A recording
  already gone (404) is fine. When ARI cannot delete one (unreachable, 5xx), that call's
  rows are kept, so the recording's name is not lost; the next purge tries again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.store.db import Connection

DEFAULT_RETENTION_DAYS = 400
DEFAULT_AUDIT_RETENTION_DAYS = 2190
MIN_AUDIT_DAYS = 2190  # six years: HIPAA keeps policies and the audit log that long
BATCH = 5000
MAX_DAYS = 36500

# Deletes one stored recording; returns False when it was already gone (404), raises
# `RecordingError` when it could not be deleted (ARI unreachable or failing).
DeleteRecording = Callable[[str], Awaitable[bool]]


class RecordingError(Exception):
    pass


def retention_days(env: Mapping[str, str]) -> int:
    """FRONTDESK_RETENTION_DAYS: how long call rows and recordings are kept (default 400)."""
    return _days(env, "FRONTDESK_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, minimum=1)


def audit_retention_days(env: Mapping[str, str]) -> int:
    """FRONTDESK_AUDIT_RETENTION_DAYS: how long the audit log is kept (default and minimum
    2190 days, six years)."""
    return _days(
        env, "FRONTDESK_AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS, minimum=MIN_AUDIT_DAYS
    )


def _days(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    return parse_days(text, name, minimum=minimum)


def parse_days(text: str, name: str, *, minimum: int) -> int:
    if not text.isdigit() or not minimum <= int(text) <= MAX_DAYS:
        raise ValueError(f"{name} must be a whole number of days from {minimum} to {MAX_DAYS}")
    return int(text)


@dataclass
class PurgeReport:
    cutoff: datetime
    audit_cutoff: datetime
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows
    recordings_deleted: int = 0
    recordings_gone: int = 0  # already gone (404)
    recordings_left: int = 0  # no ARI configured: rows deleted, files not touched
    calls_kept: int = 0  # their recording could not be deleted: rows kept
    ari_error: str | None = None
    batches: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "cutoff": self.cutoff.isoformat(),
            "audit_cutoff": self.audit_cutoff.isoformat(),
            "deleted": dict(self.deleted),
            "recordings": {
                "deleted": self.recordings_deleted,
                "already_gone": self.recordings_gone,
                "not_deleted_no_ari": self.recordings_left,
            },
            "calls_kept": self.calls_kept,
            "ari_error": self.ari_error,
            "batches": self.batches,
        }


TABLES = (
    "calls",
    "call_events",
    "dispositions",
    "callbacks",
    "voicemails",
    "agent_state_changes",
    "pending_callbacks",
    "audit_log",
)

# A range scan of calls_started_at_idx that stops at the batch (no sort, no full bitmap
# of every old call per batch); calls never started, rare, come after.
_OLD_CALLS = """
    (SELECT linkedid FROM calls
     WHERE started_at < $1 AND NOT (linkedid = ANY($2::text[]))
     ORDER BY started_at LIMIT $3)
    UNION ALL
    (SELECT linkedid FROM calls
     WHERE started_at IS NULL AND created_at < $1 AND NOT (linkedid = ANY($2::text[]))
     LIMIT $3)
    LIMIT $3
"""

_RECORDINGS = """
    SELECT linkedid, data->>'recording' AS name FROM call_events
    WHERE linkedid = ANY($1::text[]) AND kind = 'voicemail' AND data->>'recording' IS NOT NULL
    UNION
    SELECT linkedid, recording FROM voicemails WHERE linkedid = ANY($1::text[])
"""

_CALL_CHILDREN = ("call_events", "dispositions", "callbacks", "voicemails")


async def purge(
    conn: Connection,
    *,
    days: int,
    audit_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
    dry_run: bool = False,
    delete_recording: DeleteRecording | None = None,
    batch: int = BATCH,
    now: datetime | None = None,
) -> PurgeReport:
    if days < 1:
        raise ValueError("the retention must be at least 1 day")
    if audit_days < MIN_AUDIT_DAYS:
        raise ValueError(f"the audit log is kept at least {MIN_AUDIT_DAYS} days (six years)")
    if batch < 1:
        raise ValueError("the batch size must be at least 1")
    moment = now or datetime.now(UTC)
    report = PurgeReport(
        cutoff=moment - timedelta(days=days),
        audit_cutoff=moment - timedelta(days=audit_days),
        dry_run=dry_run,
        deleted=dict.fromkeys(TABLES, 0),
    )
    if dry_run:
        await _count(conn, report, with_ari=delete_recording is not None)
        return report
    await _purge_calls(conn, report, delete_recording, batch)
    await _batched(
        conn,
        report,
        "agent_state_changes",
        "SELECT id FROM agent_state_changes WHERE at < $1 LIMIT $2",
        "id",
        report.cutoff,
        batch,
    )
    await _batched(
        conn,
        report,
        "pending_callbacks",
        "SELECT call_id FROM pending_callbacks WHERE status <> 'pending' AND updated_at < $1"
        " LIMIT $2",
        "call_id",
        report.cutoff,
        batch,
    )
    await _batched(
        conn,
        report,
        "audit_log",
        "SELECT id FROM audit_log WHERE at < $1 LIMIT $2",
        "id",
        report.audit_cutoff,
        batch,
        audit=True,
    )
    return report


async def _purge_calls(
    conn: Connection, report: PurgeReport, delete_recording: DeleteRecording | None, batch: int
) -> None:
    kept: list[str] = []
    while True:
        ids = [r["linkedid"] for r in await conn.fetch(_OLD_CALLS, report.cutoff, kept, batch)]
        if not ids:
            return
        recordings = await conn.fetch(_RECORDINGS, ids)
        failed: set[str] = set()
        for row in recordings:
            if delete_recording is None:
                report.recordings_left += 1
                continue
            if row["linkedid"] in failed:
                continue
            if report.ari_error is not None:  # unreachable: keep the rest without trying
                failed.add(row["linkedid"])
                continue
            try:
                if await delete_recording(row["name"]):
                    report.recordings_deleted += 1
                else:
                    report.recordings_gone += 1
            except RecordingError as exc:
                report.ari_error = str(exc)
                failed.add(row["linkedid"])
        if failed:
            kept.extend(failed)
            report.calls_kept += len(failed)
            ids = [i for i in ids if i not in failed]
        if ids:
            async with conn.transaction():
                for table in _CALL_CHILDREN:
                    status = await conn.execute(
                        f"DELETE FROM {table} WHERE linkedid = ANY($1::text[])", ids
                    )
                    report.deleted[table] += _rows(status)
                status = await conn.execute(
                    "DELETE FROM calls WHERE linkedid = ANY($1::text[])", ids
                )
                report.deleted["calls"] += _rows(status)
            report.batches += 1


async def _batched(
    conn: Connection,
    report: PurgeReport,
    table: str,
    select: str,
    key: str,
    cutoff: datetime,
    batch: int,
    *,
    audit: bool = False,
) -> None:
    while True:
        async with conn.transaction():
            if audit:  # migration 0008: the trigger allows this, for rows past six years
                await conn.execute("SET LOCAL frontdesk.audit_purge = 'on'")
            status = await conn.execute(
                f"DELETE FROM {table} WHERE {key} IN ({select})", cutoff, batch
            )
        count = _rows(status)
        report.deleted[table] += count
        if count:
            report.batches += 1
        if count < batch:
            return


async def _count(conn: Connection, report: PurgeReport, *, with_ari: bool) -> None:
    old = (
        "SELECT linkedid FROM calls"
        " WHERE started_at < $1 OR (started_at IS NULL AND created_at < $1)"
    )
    report.deleted["calls"] = await conn.fetchval(f"SELECT count(*) FROM ({old}) c", report.cutoff)
    for table in _CALL_CHILDREN:
        report.deleted[table] = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE linkedid IN ({old})", report.cutoff
        )
    report.deleted["agent_state_changes"] = await conn.fetchval(
        "SELECT count(*) FROM agent_state_changes WHERE at < $1", report.cutoff
    )
    report.deleted["pending_callbacks"] = await conn.fetchval(
        "SELECT count(*) FROM pending_callbacks WHERE status <> 'pending' AND updated_at < $1",
        report.cutoff,
    )
    report.deleted["audit_log"] = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE at < $1", report.audit_cutoff
    )
    recordings = await conn.fetchval(
        "SELECT count(*) FROM ("
        " SELECT data->>'recording' FROM call_events WHERE kind = 'voicemail'"
        f" AND data->>'recording' IS NOT NULL AND linkedid IN ({old})"
        f" UNION SELECT recording FROM voicemails WHERE linkedid IN ({old})) r",
        report.cutoff,
    )
    if with_ari:
        report.recordings_deleted = recordings
    else:
        report.recordings_left = recordings


def _rows(status: str) -> int:
    """`DELETE 42` -> 42."""
    return int(status.rsplit(" ", 1)[-1])
