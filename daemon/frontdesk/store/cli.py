"""`frontdesk db upgrade` and `frontdesk directory import CSV`.

The database is `--database-url` or else `FRONTDESK_DATABASE_URL` (a libpq-style URL;
`?options=-csearch_path%3Dmyschema` selects the schema). `directory import` checks each
row against the plan (`--plan`, else `FRONTDESK_PLAN`, else the bundled example): a
`preferred_language` that is not one of its languages, or a `specialty` that is not one
of its skills, rejects the row with its reason. Exit codes: 0 ok; 1 `directory import`
rejected every row (nothing imported); 2 no or unreachable database, unreadable CSV,
missing columns, or an invalid plan.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontdesk import logs
from frontdesk.exits import EXIT_ALL_REJECTED, EXIT_INVALID, EXIT_OK
from frontdesk.plan import PlanError, load_plan
from frontdesk.routing.directory import DirectoryError, RejectedRow, Vocabulary
from frontdesk.settings import bundled_plan
from frontdesk.store import purge_cli, repair_times_cli
from frontdesk.store.directory import ImportReport, import_directory
from frontdesk.store.migrations import upgrade
from frontdesk.store.refusals import ENV, Refused, connect, database_url, refusing

# Rejected rows printed (table or JSON); the rest are counted, and `--rejects FILE` has
# them all. A million bad rows once took 152 s and 1.6 GB to print.
SHOWN_REJECTS = 50


def add_parser(commands: Any) -> None:
    database = commands.add_parser("db", help="the PostgreSQL store: migrations, purge and repairs")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    up = db_commands.add_parser("upgrade", help="apply the pending schema migrations")
    _database_url(up)
    up.set_defaults(handler=_upgrade)
    purge_cli.add_parser(db_commands)
    repair_times_cli.add_parser(db_commands)

    directory = commands.add_parser("directory", help="the patient directory in PostgreSQL")
    dir_commands = directory.add_subparsers(dest="directory_command", required=True)
    imp = dir_commands.add_parser(
        "import", help="upsert a directory CSV into the store (never deletes patients)"
    )
    imp.add_argument("csv", type=Path, help="phone,patient_id,preferred_language,specialty")
    _database_url(imp)
    imp.add_argument(
        "--plan",
        type=Path,
        default=None,
        help="the plan whose languages and skills the rows must use "
        "(default: $FRONTDESK_PLAN, else the bundled example)",
    )
    imp.add_argument("--json", action="store_true", help="print the report as one JSON object")
    imp.add_argument(
        "--rejects",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"write every rejected row (line,reason CSV) here; only the first "
        f"{SHOWN_REJECTS} are printed",
    )
    imp.set_defaults(handler=_import)


def _database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )


def _dsn(args: argparse.Namespace) -> str:
    return database_url(args.database_url)


def _fail(command: str, message: str) -> int:
    # Messages name the failure, never the URL (it may carry a password).
    print(f"frontdesk {command}: {message}", file=sys.stderr)
    return EXIT_INVALID


# -- db upgrade ---------------------------------------------------------------------------
def _upgrade(args: argparse.Namespace, out: Console) -> int:
    try:
        with logs.quiet_for_output():
            applied = asyncio.run(_run_upgrade(_dsn(args)))
    except Refused as exc:
        return _fail("db upgrade", str(exc))
    if applied:
        out.print(f"applied migration(s) {', '.join(f'{v:04d}' for v in applied)}")
    else:
        out.print("up to date")
    return EXIT_OK


async def _run_upgrade(dsn: str) -> list[int]:
    conn = await connect(dsn)
    try:
        with refusing("migration failed"):
            return await upgrade(conn)
    finally:
        await conn.close()


# -- directory import ---------------------------------------------------------------------
def _import(args: argparse.Namespace, out: Console) -> int:
    try:
        with logs.quiet_for_output():
            vocabulary = _vocabulary(args.plan)
            report = asyncio.run(_run_import(_dsn(args), args.csv, vocabulary))
    except (Refused, DirectoryError) as exc:
        return _fail("directory import", str(exc))
    if args.rejects is not None:
        try:
            _write_rejects(args.rejects, report.rejected)
        except OSError as exc:
            return _fail("directory import", f"cannot write {args.rejects}: {exc.strerror or exc}")
    if args.json:
        data = dataclasses.replace(report, rejected=report.rejected[:SHOWN_REJECTS]).as_json()
        data["rejected_total"] = len(report.rejected)
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_report(out, report, args.rejects)
    return EXIT_ALL_REJECTED if report.rows == 0 else EXIT_OK


def _vocabulary(plan: Path | None) -> Vocabulary:
    path = plan or Path(os.environ.get("FRONTDESK_PLAN") or bundled_plan())
    try:
        return Vocabulary.of(load_plan(path))
    except PlanError as exc:
        raise Refused(f"{path}: the plan is invalid ({len(exc.issues)} error(s)): "
                      "check it with `frontdesk check`") from None  # fmt: skip


async def _run_import(dsn: str, csv: Path, vocabulary: Vocabulary | None = None) -> ImportReport:
    if not csv.is_file():  # before touching the database
        raise DirectoryError(f"{csv}: cannot read the directory: no such file")
    conn = await connect(dsn)
    try:
        with refusing("import failed, nothing written"):
            await upgrade(conn)
            return await import_directory(conn, csv, vocabulary=vocabulary)
    finally:
        await conn.close()


def _write_rejects(path: Path, rejected: Sequence[RejectedRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("line", "reason"))
        writer.writerows((row.line, row.reason) for row in rejected)


def _print_report(out: Console, report: ImportReport, rejects: Path | None = None) -> None:
    out.print(f"directory import: {report.path}", markup=False, highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("patients (phone, id)")
    table.add_column("count", justify="right")
    for label, count in (
        ("in the file", report.rows),
        ("inserted", report.inserted),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("kept (not in the file, not deleted)", report.kept),
        ("rejected rows", len(report.rejected)),
    ):
        table.add_row(label, str(count))
    out.print(table)
    if report.rejected:
        rejected = Table(title="Rejected rows", title_justify="left")
        rejected.add_column("line", justify="right")
        rejected.add_column("reason")
        for row in report.rejected[:SHOWN_REJECTS]:
            rejected.add_row(str(row.line), escape(row.reason))
        out.print(rejected)
        more = len(report.rejected) - SHOWN_REJECTS
        if more > 0:
            where = f"all in {rejects}" if rejects else "write them all with --rejects FILE"
            out.print(f"... and {more} more rejected rows ({where})", markup=False)
    if report.rows == 0:
        out.print("[red]nothing imported: every row was rejected[/red]")
