"""The `frontdesk` command: for people first (tables), `--json` for scripts.

Exit codes: 0 success (warnings allowed); 1 `paths --at-risk` found at-risk routes;
2 the plan (or another input) is invalid or refused, or the command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from frontdesk import __version__, asterisk_config, diagram, prompts
from frontdesk.emulator import cli as emulator_cli
from frontdesk.exits import EXIT_AT_RISK, EXIT_INVALID, EXIT_OK
from frontdesk.golive import cli as golive_cli
from frontdesk.phone import normalize_number
from frontdesk.plan import Plan, PlanError, read_plan
from frontdesk.plan.errors import PlanIssue, dotted
from frontdesk.plan.source import SourceMap
from frontdesk.reports import cli as reports_cli
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Destination, QueueDestination, TransferDestination
from frontdesk.routing.directory import Directory, DirectoryError
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.paths import Outcome, PathMatrix, build_matrix
from frontdesk.routing.safety import check_plan
from frontdesk.routing.simulate import default_did, parse_keys, simulate
from frontdesk.store import cli as store_cli
from frontdesk.web import users_cli

EXAMPLE_FILES = ("lakeside.yaml", "directory.csv")


class UsageError(Exception):
    """A bad argument value: reported on stderr with exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)
    try:
        result: int = args.handler(args, out)
    except PlanError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_INVALID
    except (UsageError, DirectoryError) as exc:
        print(f"frontdesk {args.command}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"frontdesk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate a plan and apply the safety rules")
    check.add_argument("plan", type=Path)
    check.add_argument("--json", action="store_true", help="one JSON object on stdout")
    check.add_argument("--week-of", type=date.fromisoformat, default=None, help=argparse.SUPPRESS)
    check.set_defaults(handler=_check)

    sim = commands.add_parser("simulate", help="where would this call go? (one JSON object)")
    sim.add_argument("--plan", type=Path, required=True)
    sim.add_argument("--at", help="ISO 8601; naive = practice local time (default: now)")
    sim.add_argument("--caller", help="caller-ID number (omit for withheld)")
    sim.add_argument("--did", help="dialled number (default: the first number whose entry is main)")
    sim.add_argument("--keys", default="", help="keys pressed, e.g. 1,3; '-' is a timeout")
    sim.add_argument("--directory", type=Path, help="patient directory CSV")
    sim.add_argument(
        "--logged-in", help="extensions logged in, e.g. 2001,2004 (default: all staff)"
    )
    sim.set_defaults(handler=_simulate)

    paths = commands.add_parser("paths", help="every route through the plan, in every regime")
    paths.add_argument("plan", type=Path)
    paths.add_argument("--json", action="store_true", help="the whole matrix as JSON")
    paths.add_argument(
        "--at-risk", action="store_true", help="only clinical routes that miss a person"
    )
    paths.add_argument(
        "--week-of",
        type=date.fromisoformat,
        default=None,
        help="reference week (default: this week)",
    )
    paths.set_defaults(handler=_paths)

    run = commands.add_parser(
        "run", help="the daemon; with no FRONTDESK_ARI_URL, the demo on an embedded emulator"
    )
    run.add_argument(
        "--demo-calls", type=int, default=None, help="demo: stop after this many routed calls"
    )
    run.set_defaults(handler=_run)

    prompts.add_parser(commands)
    asterisk_config.add_parser(commands)
    emulator_cli.add_parser(commands)
    store_cli.add_parser(commands)
    users_cli.add_parser(commands)
    reports_cli.add_parser(commands)
    diagram.add_parser(commands)
    golive_cli.add_parser(commands)

    example = commands.add_parser("example", help="where the bundled example plan is, or copy it")
    example.add_argument("--out", type=Path, help="copy lakeside.yaml and directory.csv here")
    example.set_defaults(handler=_example)
    return parser


# A reference week is sampled days and weeks ahead (holidays, a quiet Monday): near
# date.max that overflows, and no plan is checked for a week centuries away anyway.
_WEEK_OF_RANGE = (date(1970, 1, 1), date(9000, 12, 31))


def _reference_week(args: argparse.Namespace, plan: Plan) -> date:
    week_of: date | None = args.week_of
    if week_of is None:
        return _today(plan)
    low, high = _WEEK_OF_RANGE
    if not low <= week_of <= high:
        raise UsageError(f"--week-of: {week_of} is not between {low} and {high}")
    return week_of


# -- check ------------------------------------------------------------------------------
def _check(args: argparse.Namespace, out: Console) -> int:
    try:
        plan, lines = read_plan(args.plan)
    except PlanError as exc:
        if args.json:
            print(
                json.dumps(
                    {"ok": False, "errors": [_issue_json(i) for i in exc.issues], "warnings": []}
                )
            )
        else:
            for issue in exc.issues:
                out.print(str(issue), markup=False, highlight=False, soft_wrap=True)
            out.print(f"[red]{args.plan}: refused, {len(exc.issues)} error(s)[/red]")
        return EXIT_INVALID
    issues, matrix = check_plan(plan, lines, _reference_week(args, plan))
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not errors,
                    "errors": [_issue_json(i) for i in errors],
                    "warnings": [_issue_json(i) for i in warnings],
                    "summary": _summary(plan, matrix),
                },
                ensure_ascii=False,
            )
        )
        return EXIT_INVALID if errors else EXIT_OK
    for issue in [*errors, *warnings]:
        style = "red" if issue.severity == "error" else "yellow"
        # One problem per line, never wrapped: editors and scripts parse these.
        out.print(str(issue), style=style, markup=False, highlight=False, soft_wrap=True)
    if errors:
        out.print(f"[red]{args.plan}: refused, {len(errors)} error(s)[/red]")
        return EXIT_INVALID
    _print_summary(out, plan, lines, matrix)
    return EXIT_OK


def _issue_json(issue: PlanIssue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "key": dotted(issue.path),
        "message": issue.message,
    }


def _summary(plan: Plan, matrix: PathMatrix) -> dict[str, Any]:
    return {
        "practice": plan.practice.name,
        "queues": {name: [m.extension for m in plan.members(name)] for name in plan.queues},
        "staff": len(plan.staff),
        "languages": list(plan.practice.languages),
        "weekly_open_hours": {name: s.weekly_hours() for name, s in plan.schedules.items()},
        "routes": len(matrix.routes),
        "regimes": len(matrix.regimes),
        "at_risk": len(matrix.at_risk()),
    }


def _print_summary(out: Console, plan: Plan, lines: SourceMap, matrix: PathMatrix) -> None:
    out.print(f"[green]{lines.file}: OK[/green] — {plan.practice.name} ({plan.practice.timezone})")
    table = Table(title="Queues", title_justify="left")
    for column in ("queue", "schedule", "staff", "after hours"):
        table.add_column(column)
    for name, queue in plan.queues.items():
        members = ", ".join(m.extension for m in plan.members(name)) or "-"
        after = queue.after_hours
        where = (
            "-"
            if after is None
            else (
                f"voicemail {after.voicemail}" if after.voicemail else f"transfer {after.transfer}"
            )
        )
        table.add_row(name, queue.schedule, members, where)
    out.print(table)
    hours = Table(title="Schedules", title_justify="left")
    hours.add_column("schedule")
    hours.add_column("open h/week", justify="right")
    hours.add_column("hours")
    for name, schedule in plan.schedules.items():
        hours.add_row(name, f"{schedule.weekly_hours():g}", schedule.describe())
    out.print(hours)
    out.print(
        f"{len(plan.queues)} queues, {len(plan.staff)} staff, languages: {', '.join(plan.practice.languages)}; "
        f"{len(matrix.routes)} routes x {len(matrix.regimes)} regimes checked, "
        f"{len(matrix.at_risk())} clinical routes at risk"
    )


# -- simulate -----------------------------------------------------------------------------
def _simulate(args: argparse.Namespace, out: Console) -> int:
    plan, _ = read_plan(args.plan)
    region = plan.practice.phone_region
    directory = Directory.from_csv(args.directory, region) if args.directory else Directory()
    caller = normalize_number(args.caller, region) if args.caller else None
    facts = CallFacts(_did(plan, args.did), caller, directory.lookup(caller))
    try:
        keys = parse_keys(args.keys)
    except ValueError as exc:
        raise UsageError(f"--keys: {exc}") from None
    result = simulate(
        plan,
        at=_moment(args.at),
        facts=facts,
        keys=keys,
        logged_in=_logged_in(plan, args.logged_in),
    )
    print(json.dumps(result.as_json(), ensure_ascii=False))
    return EXIT_OK


def _did(plan: Plan, raw: str | None) -> str | None:
    if raw is None:
        return default_did(plan)
    number = normalize_number(raw, plan.practice.phone_region)
    if number is None:
        raise UsageError(f"--did: '{raw}' is not a phone number")
    return number


def _moment(raw: str | None) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"--at: '{raw}' is not an ISO 8601 time like 2026-11-30T10:15") from None


def _logged_in(plan: Plan, raw: str | None) -> frozenset[str]:
    everyone = {s.extension for s in plan.staff}
    if raw is None:
        return frozenset(everyone)
    chosen = {e.strip() for e in raw.split(",") if e.strip()}
    unknown = sorted(chosen - everyone)
    if unknown:
        raise UsageError(f"--logged-in: no staff member has extension {', '.join(unknown)}")
    return frozenset(chosen)


# -- paths --------------------------------------------------------------------------------
def _paths(args: argparse.Namespace, out: Console) -> int:
    plan, _ = read_plan(args.plan)
    matrix = build_matrix(plan, _reference_week(args, plan))
    at_risk = matrix.at_risk()
    if args.json:
        data = matrix.as_json()
        print(json.dumps(data["at_risk"] if args.at_risk else data, ensure_ascii=False, indent=1))
    elif args.at_risk:
        _print_at_risk(out, at_risk)
    else:
        _print_matrix(out, matrix)
    return EXIT_AT_RISK if args.at_risk and at_risk else EXIT_OK


def _print_matrix(out: Console, matrix: PathMatrix) -> None:
    legend = Table(title=f"Regimes of {matrix.plan.practice.name}", title_justify="left")
    for column in ("regime", "what", "when", "sampled at"):
        legend.add_column(column)
    for regime in matrix.regimes:
        legend.add_row(
            regime.id, regime.description, "; ".join(regime.spans), f"{regime.at:%a %Y-%m-%d %H:%M}"
        )
    out.print(legend)
    table = Table(title=f"{len(matrix.routes)} routes", title_justify="left", show_lines=False)
    table.add_column("route")
    table.add_column("keys")
    for regime in matrix.regimes:
        table.add_column(regime.id)
    for route in matrix.routes:
        cells = [_cell(matrix.outcomes[route.id, regime.id]) for regime in matrix.regimes]
        table.add_row(route.description, ",".join(route.keys) or "-", *cells)
    out.print(table)
    risky = len(matrix.at_risk())
    out.print(
        f"{len(matrix.routes)} routes x {len(matrix.regimes)} regimes; {risky} clinical routes at risk"
    )


def _cell(outcome: Outcome) -> str:
    text = _short(outcome.result.decision.destination)
    if outcome.at_risk:
        return f"[bold red]{text} (at risk)[/bold red]"
    return text


def _short(destination: Destination) -> str:
    if isinstance(destination, QueueDestination):
        skills = f" [{','.join(destination.skills)}]" if destination.skills else ""
        front = " (front)" if destination.priority == "front" else ""
        return f"{destination.queue}{skills}{front}".replace("[", "\\[")
    if isinstance(destination, TransferDestination):
        return f"-> {destination.target}"
    return f"voicemail {destination.box}"


def _print_at_risk(out: Console, at_risk: list[Outcome]) -> None:
    if not at_risk:
        out.print(
            "[green]no clinical route ends anywhere but a live person or a nurse line[/green]"
        )
        return
    table = Table(title="Clinical routes at risk", title_justify="left")
    for column in ("route", "keys", "regime", "category", "ends in"):
        table.add_column(column)
    for outcome in at_risk:
        decision = outcome.result.decision
        table.add_row(
            outcome.route.description,
            ",".join(outcome.route.keys) or "-",
            outcome.regime.id,
            decision.request.category,
            _short(decision.destination),
        )
    out.print(table)


# -- example ------------------------------------------------------------------------------
def _example(args: argparse.Namespace, out: Console) -> int:
    folder = resources.files("frontdesk") / "examples"
    if args.out is None:
        print(Path(str(folder)) / EXAMPLE_FILES[0])
        return EXIT_OK
    args.out.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_FILES:
        target = args.out / name
        if target.exists():
            raise UsageError(f"{target} exists; not overwriting it")
        with resources.as_file(folder / name) as source:
            shutil.copyfile(source, target)
        out.print(f"wrote {target}")
    return EXIT_OK


def _run(args: argparse.Namespace, out: Console) -> int:
    from frontdesk import daemon, logs
    from frontdesk.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a setting's value is wrong: say which, exit 2
        raise UsageError(str(exc)) from None
    missing = [
        name
        for name, value in (
            ("FRONTDESK_ARI_PASSWORD", settings.ari_password),
            ("FRONTDESK_AMI_SECRET", settings.ami_secret),
        )
        if not settings.demo and not value
    ]
    if missing:
        raise UsageError(f"{' and '.join(missing)} must be set (secrets come from the environment)")
    logs.configure("console" if settings.log_format == "console" else "json")
    plan, lines = read_plan(settings.plan)
    issues, _ = check_plan(plan, lines, _today(plan))
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise PlanError(errors)  # never answer calls with a plan that `check` refuses
    return asyncio.run(daemon.run(settings, demo_calls=args.demo_calls))


def _today(plan: Plan) -> date:
    return PracticeClock(plan).local(datetime.now(UTC)).date()


if __name__ == "__main__":
    raise SystemExit(main())
