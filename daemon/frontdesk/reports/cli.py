"""`frontdesk report`: the call metrics for a date range, against the practice's targets.

The range is `--since 7d|24h|30d` (up to now; the default is 7d) or `--from DATE --to DATE`
(practice-local days, both included). The practice's time zone (for calls per hour and the
days) comes from `--zone`, else from the plan (`--plan`, else `FRONTDESK_PLAN`, else the
bundled example). The database is `--database-url` or else `FRONTDESK_DATABASE_URL`.
Several sites on one database (docs/scale.md "Several sites"): `--site NAME` reports one
site's calls, `--site all` every site's; the default is `FRONTDESK_SITE`, else the plan's
`practice.site`, else `main`.
Exit codes: 0 ok; 2 bad arguments, no or unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.reports.export import rows_csv, to_csv
from frontdesk.reports.metrics import (
    FCR_WINDOW,
    ROUTING_KEYS,
    SEED_TARGETS,
    SERVICE_LEVEL_TARGET,
    SHORT_ABANDON,
    Report,
    RoutingFigures,
    compute,
)
from frontdesk.reports.pauses import DEFINITION, PauseTime, format_span, pause_time
from frontdesk.reports.store import load_agent_states, load_rows
from frontdesk.store.refusals import ENV, Refused, database_url, read_calls

_SINCE = re.compile(r"^\s*(\d{1,4})\s*([hd])\s*$")


def add_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="call metrics for a date range against the practice's targets"
    )
    report.add_argument("--since", metavar="AGE", help="7d, 24h, 30d ... up to now (default 7d)")
    report.add_argument("--from", dest="from_date", metavar="DATE", help="first local day")
    report.add_argument("--to", dest="to_date", metavar="DATE", help="last local day (included)")
    report.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )
    report.add_argument("--plan", type=Path, default=None, help="plan for the practice time zone")
    report.add_argument("--zone", default=None, help="IANA time zone (overrides the plan's)")
    report.add_argument(
        "--short-abandon",
        type=float,
        default=SHORT_ABANDON.total_seconds(),
        metavar="SECONDS",
        help="hang-ups in a queue sooner than this are short abandons (default 10)",
    )
    report.add_argument(
        "--service-level",
        type=float,
        default=SERVICE_LEVEL_TARGET.total_seconds(),
        metavar="SECONDS",
        help="answered within this wait counts for the service level (default 60)",
    )
    report.add_argument(
        "--site",
        default=None,
        metavar="NAME|all",
        help="one site's calls, or every site's (default: $FRONTDESK_SITE, else the plan's)",
    )
    report.add_argument("--json", action="store_true", help="print the report as one JSON object")
    report.add_argument("--csv", type=Path, default=None, metavar="FILE", help="also write CSV")
    report.set_defaults(handler=_report)


def _fail(message: str) -> int:
    # Messages name the failure, never the URL (it may carry a password).
    print(f"frontdesk report: {message}", file=sys.stderr)
    return EXIT_INVALID


_SITE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _sites(args: argparse.Namespace) -> list[str] | None:
    """The sites to report on: None for `--site all`."""
    site = args.site or os.environ.get("FRONTDESK_SITE") or _plan_site(args)
    if site == "all":
        return None
    if not _SITE.match(site):
        raise Refused(f"--site: '{site}' is not a site name (a-z, 0-9, '-', '_') or 'all'")
    return [site]


def _plan_site(args: argparse.Namespace) -> str:
    from frontdesk.plan import read_plan
    from frontdesk.settings import bundled_plan

    plan_path = args.plan or Path(os.environ.get("FRONTDESK_PLAN") or bundled_plan())
    plan, _ = read_plan(plan_path)
    return plan.practice.site or "main"


def _zone(args: argparse.Namespace) -> ZoneInfo:
    if args.zone:
        try:
            return ZoneInfo(args.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Refused(f"--zone: unknown time zone '{args.zone}'") from None
    from frontdesk.plan import read_plan  # PlanError is reported by frontdesk.cli.main
    from frontdesk.settings import bundled_plan

    plan_path = args.plan or Path(os.environ.get("FRONTDESK_PLAN") or bundled_plan())
    plan, _ = read_plan(plan_path)
    return ZoneInfo(plan.practice.timezone)


def _day(flag: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Refused(f"{flag}: '{raw}' is not a date like 2026-11-30") from None


def time_range(
    since: str | None, from_date: str | None, to_date: str | None, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """`[start, end)` for the arguments (raises `Refused` for a bad combination)."""
    if since is not None and (from_date or to_date):
        raise Refused("give either --since or --from/--to, not both")
    if from_date or to_date:
        if not (from_date and to_date):
            raise Refused("--from and --to go together")
        first, last = _day("--from", from_date), _day("--to", to_date)
        if last < first:
            raise Refused("--to is before --from")
        try:  # in UTC: arithmetic between datetimes of one ZoneInfo is wall-clock time
            start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
            end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        except OverflowError:
            raise Refused("--from/--to: a day between 0001-01-02 and 9999-12-30") from None
        return start, end
    match = _SINCE.match(since or "7d")
    if match is None or int(match[1]) == 0:
        raise Refused(f"--since: '{since}' is not an age like 7d, 24h or 30d")
    unit = timedelta(hours=1) if match[2] == "h" else timedelta(days=1)
    return now - int(match[1]) * unit, now


def _report(args: argparse.Namespace, out: Console) -> int:
    try:
        dsn = database_url(args.database_url)
        if args.short_abandon < 0 or args.service_level < 0:
            raise Refused("--short-abandon and --service-level are seconds >= 0")
        zone = _zone(args)
        sites = _sites(args)
        start, end = time_range(args.since, args.from_date, args.to_date, zone, datetime.now(UTC))
        report = asyncio.run(
            _build(
                dsn,
                start,
                end,
                zone,
                timedelta(seconds=args.short_abandon),
                timedelta(seconds=args.service_level),
                sites,
            )
        )
        pauses = asyncio.run(_pauses(dsn, start, end, sites))
        if args.csv is not None:
            try:
                text = to_csv(report) + rows_csv(pauses.csv_rows())
                args.csv.write_text(text, encoding="utf-8", newline="")
            except OSError as exc:
                raise Refused(f"--csv: cannot write {args.csv}: {exc.strerror}") from None
    except Refused as exc:
        return _fail(str(exc))
    if args.json:
        site = "all" if sites is None else sites[0]
        figures = report.as_json() | {"pause_time": pauses.as_json(), "site": site}
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print_report(out, report)
        print_pauses(out, pauses)
    return EXIT_OK


async def _pauses(
    dsn: str, start: datetime, end: datetime, sites: list[str] | None = None
) -> PauseTime:
    """Time paused per agent and reason (reports/pauses.py), from the agent state rows."""
    rows = await read_calls(dsn, lambda conn: load_agent_states(conn, start, end, sites=sites))
    return pause_time(rows, start=start, end=end, now=datetime.now(UTC))


def print_pauses(out: Console, pauses: PauseTime) -> None:
    if not pauses.by_agent:
        return
    table = Table(title="Time paused per reason", title_justify="left", caption=DEFINITION)
    table.add_column("agent")
    table.add_column("reason")
    table.add_column("paused", justify="right")
    for agent, reasons in pauses.by_agent.items():
        for reason, seconds in reasons.items():
            table.add_row(escape(agent), escape(reason), format_span(seconds))
    out.print(table)


async def _build(
    dsn: str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    short_abandon: timedelta,
    service_level: timedelta,
    sites: list[str] | None = None,
) -> Report:
    rows = await read_calls(dsn, lambda conn: load_rows(conn, start, end + FCR_WINDOW, sites=sites))
    return compute(
        rows,
        start=start,
        end=end,
        zone=zone,
        short_abandon=short_abandon,
        service_level_target=service_level,
    )


def print_report(out: Console, report: Report) -> None:
    zone = ZoneInfo(report.zone)
    span = (
        f"{report.start.astimezone(zone):%Y-%m-%d %H:%M} to "
        f"{report.end.astimezone(zone):%Y-%m-%d %H:%M} ({report.zone})"
    )
    out.print(f"calls {span}: {report.total_calls}", markup=False, highlight=False, soft_wrap=True)
    table = Table()
    for column in ("metric", "value", "target", "", "seed (before → aim)", "definition"):
        table.add_column(column, justify="right" if column in ("value", "target") else "left")
    for m in report.metrics:
        table.add_row(
            escape(m.label),
            escape(m.display_value),
            escape(m.display_target),
            _MARK[m.passed],
            "" if m.seed is None else escape(m.seed.describe()),
            escape(m.definition),
        )
    out.print(table)
    print_routing(out, "category", report.by_category)
    print_routing(out, "week", report.by_week)
    hours = Table(title="Calls per hour (local)", title_justify="left")
    busy = [h for h in range(24) if report.calls_per_hour[h]]
    for h in busy:
        hours.add_column(f"{h:02d}", justify="right")
    if busy:
        hours.add_row(*(str(report.calls_per_hour[h]) for h in busy))
        out.print(hours)
    if report.calls_per_category:
        categories = Table(title="Calls per category", title_justify="left")
        categories.add_column("category")
        categories.add_column("calls", justify="right")
        for name, count in report.calls_per_category.items():
            categories.add_row(escape(name), str(count))
        out.print(categories)


_MARK = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: ""}


def print_routing(out: Console, by: str, groups: tuple[RoutingFigures, ...]) -> None:
    """Transfer rate, misrouted rate and FCR per category or week, the seeds in the header."""
    if not groups:
        return
    title = (
        f"Transfers, misrouting and first-contact resolution by {by}"
        " (calls answered by staff; seed targets: before → aim)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column(by)
    table.add_column("answered", justify="right")
    for key in ROUTING_KEYS:
        seed = SEED_TARGETS[key]
        table.add_column(f"{_ROUTING_LABELS[key]}\n{seed.describe()}", justify="right")
    for f in groups:
        cells = (f"{escape(f.display(key))} {_MARK[f.met(key)]}".strip() for key in ROUTING_KEYS)
        table.add_row(escape(f.label), str(f.answered), *cells)
    out.print(table)


_ROUTING_LABELS = {"transfers": "transfers", "misrouted": "misrouted", "fcr": "FCR"}
