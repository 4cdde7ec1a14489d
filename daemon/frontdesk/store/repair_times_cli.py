"""`frontdesk db repair-times [--apply] [--json] [--database-url URL]` (store/repair_times.py).

A dry run by default: counts the call rows whose `started_at`/`answered_at`/`ended_at`
differ from frontdesk's own stamps of those moments in `call_events`; `--apply` writes
them. Exit codes (frontdesk.exits): 0 nothing to repair, or repaired with `--apply`; 1 a
dry run found rows to repair (`EXIT_NEEDS_REPAIR`: run again with `--apply`); 2 no or
unreachable database, or the repair failed (nothing written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from frontdesk import logs
from frontdesk.exits import EXIT_INVALID, EXIT_NEEDS_REPAIR, EXIT_OK
from frontdesk.store.migrations import upgrade
from frontdesk.store.refusals import ENV, Refused, connect, database_url, refusing
from frontdesk.store.repair_times import COLUMNS, RepairReport, repair_times

COMMAND = "db repair-times"


def add_parser(db_commands: Any) -> None:
    parser = db_commands.add_parser(
        "repair-times",
        help="recompute call rows' started/answered/ended times from their events "
        "(a dry run unless --apply)",
    )
    parser.add_argument("--apply", action="store_true", help="write the repair (default: count)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )
    parser.set_defaults(handler=_repair)


def _fail(message: str) -> int:
    # Never the URL: it may carry a password.
    print(f"frontdesk {COMMAND}: {message}", file=sys.stderr)
    return EXIT_INVALID


def _repair(args: argparse.Namespace, out: Console) -> int:
    try:
        dsn = database_url(args.database_url)
        with logs.quiet_for_output():
            report = asyncio.run(_run(dsn, args.apply))
    except Refused as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        _print(out, report)
    return EXIT_NEEDS_REPAIR if report.dry_run and report.calls else EXIT_OK


async def _run(dsn: str, apply: bool) -> RepairReport:
    conn = await connect(dsn)
    try:
        with refusing("repair failed, nothing written"):
            await upgrade(conn)
            try:
                return await repair_times(conn, apply=apply)
            except RuntimeError as exc:
                raise Refused(str(exc)) from None
    finally:
        await conn.close()


def _print(out: Console, report: RepairReport) -> None:
    verb = "would change" if report.dry_run else "changed"
    out.print(
        f"db repair-times{' (dry run)' if report.dry_run else ''}: call times recomputed"
        " from frontdesk's own events (call_events)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    table.add_column("calls column")
    table.add_column(f"rows {verb}", justify="right")
    for name in COLUMNS:
        table.add_row(name, str(report.columns[name]))
    table.add_row("calls (any of them)", str(report.calls))
    out.print(table)
    if report.calls:
        hours = report.max_shift_s / 3600
        out.print(f"largest difference: {report.max_shift_s:.0f} s ({hours:.2f} h)", markup=False)
    if report.dry_run and report.calls:
        out.print("nothing written: run again with --apply to repair", markup=False)
