"""`frontdesk db purge [--older-than DAYS] [--dry-run] [--json]` (store/purge.py).

The retention is `--older-than`, else `FRONTDESK_RETENTION_DAYS` (default 400); the audit
log's is `FRONTDESK_AUDIT_RETENTION_DAYS` (default and minimum 2190). With
`FRONTDESK_ARI_URL` set (and `FRONTDESK_ARI_USER` / `FRONTDESK_ARI_PASSWORD`), the purged
calls' voicemail recordings are deleted over ARI first. Exit codes: 0 done (calls whose
recording could not be deleted are kept and named in the output); 2 invalid input, or no
or unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from frontdesk import logs
from frontdesk.asterisk.ari import AriClient, AriConfig, AriError
from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.store.migrations import upgrade
from frontdesk.store.purge import (
    BATCH,
    MIN_AUDIT_DAYS,
    DeleteRecording,
    PurgeReport,
    RecordingError,
    audit_retention_days,
    parse_days,
    purge,
    retention_days,
)
from frontdesk.store.refusals import ENV, Refused, connect, database_url, refusing

COMMAND = "db purge"


def add_parser(db_commands: Any) -> None:
    parser = db_commands.add_parser(
        "purge",
        help="delete call rows, recordings and other rows older than the retention",
    )
    parser.add_argument(
        "--older-than",
        default=None,
        metavar="DAYS",
        help="the retention in days (default: $FRONTDESK_RETENTION_DAYS, else 400)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_purge)


def _fail(message: str) -> int:
    print(f"frontdesk {COMMAND}: {message}", file=sys.stderr)
    return EXIT_INVALID


def _purge(args: argparse.Namespace, out: Console) -> int:
    try:
        if args.older_than is not None:
            days = parse_days(str(args.older_than).strip(), "--older-than", minimum=1)
        else:
            days = retention_days(os.environ)
        audit_days = audit_retention_days(os.environ)
        if args.batch < 1:
            raise ValueError("--batch must be at least 1")
    except ValueError as exc:
        return _fail(str(exc))
    try:
        dsn = database_url(args.database_url)
        with logs.quiet_for_output():
            report = asyncio.run(_run(dsn, days, audit_days, args.dry_run, args.batch))
    except Refused as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        _print(out, report)
    return EXIT_OK


async def _run(dsn: str, days: int, audit_days: int, dry_run: bool, batch: int) -> PurgeReport:
    conn = await connect(dsn)
    try:
        async with _recordings() as delete:
            with refusing("purge failed"):
                await upgrade(conn)
                return await purge(
                    conn,
                    days=days,
                    audit_days=audit_days,
                    dry_run=dry_run,
                    delete_recording=delete,
                    batch=batch,
                )
    finally:
        await conn.close()


@asynccontextmanager
async def _recordings() -> AsyncIterator[DeleteRecording | None]:
    """Deletes stored recordings over ARI when `FRONTDESK_ARI_URL` is set."""
    url = os.environ.get("FRONTDESK_ARI_URL")
    if not url:
        yield None
        return
    config = AriConfig(
        url=url,
        user=os.environ.get("FRONTDESK_ARI_USER", "frontdesk"),
        password=os.environ.get("FRONTDESK_ARI_PASSWORD", ""),
        retries=1,
    )
    async with AriClient(config) as ari:

        async def delete(name: str) -> bool:
            try:
                await ari.delete_recording(name)
            except AriError as exc:
                if exc.status == 404:
                    return False
                why = f"HTTP {exc.status}" if exc.status else "no answer"
                raise RecordingError(f"ARI could not delete recording {name!r} ({why})") from None
            return True

        yield delete


def _print(out: Console, report: PurgeReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    out.print(
        f"db purge{' (dry run)' if report.dry_run else ''}: calls before "
        f"{report.cutoff:%Y-%m-%d %H:%M} UTC; audit log before "
        f"{report.audit_cutoff:%Y-%m-%d %H:%M} UTC (kept at least {MIN_AUDIT_DAYS} days)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    table.add_column("table")
    table.add_column(f"rows {verb}", justify="right")
    for name, count in report.deleted.items():
        table.add_row(name, str(count))
    if report.recordings_deleted or report.recordings_gone:
        table.add_row(f"voicemail recordings ({verb} over ARI)", str(report.recordings_deleted))
    if report.recordings_gone:
        table.add_row("voicemail recordings already gone", str(report.recordings_gone))
    out.print(table)
    if report.recordings_left:
        out.print(
            f"{report.recordings_left} voicemail recording(s) of these calls are not deleted:"
            " FRONTDESK_ARI_URL is not set (delete them on the Asterisk server)",
            markup=False,
            highlight=False,
        )
    if report.calls_kept:
        out.print(
            f"[yellow]{report.calls_kept} call(s) kept, with their rows, because their"
            " voicemail recording could not be deleted; run the purge again when ARI"
            " answers[/yellow]"
        )
    if report.ari_error:
        out.print(report.ari_error, markup=False, highlight=False)
