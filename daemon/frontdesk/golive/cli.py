"""`frontdesk golive PLAN --out DIR` and `frontdesk golive verify DIR` (docs/golive.md).

Exit codes: 0 written / every case passed; 1 some case failed; 2 bad input (the plan, the
directory, `--since`, no or unreachable database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import wave
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontdesk.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from frontdesk.golive.cases import CasesError, CaseSet, PromptLength, Timing, build_cases
from frontdesk.golive.dtmf_pcap import EVENT_SECONDS
from frontdesk.golive.sipp import EXPECTED_JSON, render
from frontdesk.golive.verify import BY_CASE, BY_ORDER, Outcome, load_rows, match
from frontdesk.store.refusals import ENV, Refused, database_url, read_calls

STARTED_AT = "started_at.txt"  # written by run.sh as the run starts
VERIFY = "verify"
MIN_KEY_GAP = 0.3  # seconds: one RFC 4733 event (0.14 s) and room to spare


def add_parser(commands: Any) -> None:
    golive = commands.add_parser(
        "golive",
        help="go-live tests: SIPp scenarios from the paths matrix; `golive verify DIR` checks",
        description="frontdesk golive PLAN --out DIR   |   frontdesk golive verify DIR",
    )
    golive.add_argument("target", metavar="PLAN|verify", help="the plan, or 'verify'")
    golive.add_argument("dir", nargs="?", type=Path, help="verify: the run's directory")
    golive.add_argument("--out", type=Path, metavar="DIR", help="where to write the run")
    golive.add_argument(
        "--week-of", type=date.fromisoformat, default=None, help="reference week, as for paths"
    )
    golive.add_argument(
        "--regime", action="append", default=None, help="only this regime (repeatable)"
    )
    golive.add_argument(
        "--sounds", type=Path, metavar="DIR", help="`frontdesk prompts` output: exact timeouts"
    )
    golive.add_argument(
        "--key-gap", type=float, default=Timing.key_gap, metavar="S", help="between keys (2.5)"
    )
    golive.add_argument(
        "--hold", type=float, default=Timing.hold, metavar="S", help="after the route (6)"
    )
    golive.add_argument(
        "--prompt-seconds",
        type=float,
        default=Timing.prompt_seconds,
        metavar="S",
        help="a prompt's length without --sounds (3)",
    )
    golive.add_argument("--since", help="verify: rows from this time (ISO 8601)")
    golive.add_argument("--database-url", default=None, metavar="URL", help=f"default ${ENV}")
    golive.add_argument("--json", action="store_true", help="one JSON object on stdout")
    golive.set_defaults(handler=_golive)


def _golive(args: argparse.Namespace, out: Console) -> int:
    try:
        if args.target == VERIFY:
            return _verify(args, out)
        return _generate(args, out)
    except Refused as exc:
        print(f"frontdesk golive: {exc}", file=sys.stderr)
        return EXIT_INVALID


# -- generate ------------------------------------------------------------------------------------
def _generate(args: argparse.Namespace, out: Console) -> int:
    from frontdesk.plan import read_plan  # PlanError is reported by frontdesk.cli.main

    if args.out is None or args.dir is not None:
        raise Refused("usage: frontdesk golive PLAN --out DIR (or: frontdesk golive verify DIR)")
    if min(args.key_gap, args.hold, args.prompt_seconds) < 0:
        raise Refused("--key-gap, --hold and --prompt-seconds are seconds >= 0")
    if args.key_gap < MIN_KEY_GAP:
        # SIPp stops a key's pcap when the next one starts: its end packets would be lost.
        raise Refused(f"--key-gap: a key takes {EVENT_SECONDS:g} s to send; give >= {MIN_KEY_GAP}")
    plan_path = Path(args.target)
    plan, _ = read_plan(plan_path)
    timing = Timing(key_gap=args.key_gap, hold=args.hold, prompt_seconds=args.prompt_seconds)
    lengths = wav_lengths(args.sounds, args.prompt_seconds) if args.sounds else None
    try:
        cases = build_cases(
            plan,
            args.week_of or datetime.now(ZoneInfo(plan.practice.timezone)).date(),
            timing=timing,
            prompt_length=lengths,
            regimes=args.regime,
        )
    except CasesError as exc:
        raise Refused(str(exc)) from None
    files = render(cases, generated_at=datetime.now(UTC), plan_path=str(plan_path))
    _write(args.out, files)
    if args.json:
        print(json.dumps(_summary(cases, args.out), ensure_ascii=False))
    else:
        _print_summary(out, cases, args.out)
    return EXIT_OK


def wav_lengths(sounds: Path, default: float) -> PromptLength:
    """Prompt lengths from `frontdesk prompts` output (`<dir>/<lang>/frontdesk/<name>.wav`)."""

    @cache
    def length(language: str, name: str) -> float:
        try:
            with wave.open(str(sounds / language / "frontdesk" / f"{name}.wav"), "rb") as wav:
                return wav.getnframes() / float(wav.getframerate() or 1)
        except (OSError, EOFError, wave.Error):
            return default

    return length


def _write(out_dir: Path, files: dict[str, str | bytes]) -> None:
    try:
        for name, content in files.items():
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)  # the key pcaps
            else:
                path.write_text(content, encoding="utf-8")
        (out_dir / "run.sh").chmod(0o755)
        (out_dir / STARTED_AT).unlink(missing_ok=True)  # from an earlier run
    except OSError as exc:
        raise Refused(f"cannot write {out_dir}: {exc.strerror}") from None


def _summary(cases: CaseSet, out_dir: Path) -> dict[str, Any]:
    per_regime: dict[str, int] = {}
    for case in cases.cases:
        per_regime[case.regime_id] = per_regime.get(case.regime_id, 0) + 1
    return {
        "out": str(out_dir),
        "cases": len(cases.cases),
        "regimes": per_regime,
        "minutes": round(sum(c.duration for c in cases.cases) / 60, 1),
        "unknown_caller": cases.unknown_caller,
        "test_patients": [p.phone for p in cases.test_patients],
        "skipped_routes": cases.skipped,
    }


def _print_summary(out: Console, cases: CaseSet, out_dir: Path) -> None:
    summary = _summary(cases, out_dir)
    table = Table(title=f"Go-live cases for {escape(cases.plan)}", title_justify="left")
    table.add_column("regime")
    table.add_column("cases", justify="right")
    for regime, count in summary["regimes"].items():
        table.add_row(escape(regime), str(count))
    out.print(table)
    out.print(
        f"{summary['cases']} cases, about {summary['minutes']:.0f} min of calls, "
        f"written to {escape(str(out_dir))} (README.txt says what to do next)"
    )
    for route in cases.skipped:
        out.print(f"[yellow]skipped[/] {escape(route)}: no test caller left for its known caller")


# -- verify ---------------------------------------------------------------------------------------
def _verify(args: argparse.Namespace, out: Console) -> int:
    if args.dir is None:
        raise Refused("verify needs the run's directory: frontdesk golive verify DIR")
    cases, run = _load_cases(args.dir)
    since = _since(args.since, args.dir, ZoneInfo(cases.timezone))
    outcome = asyncio.run(_match(database_url(args.database_url), cases, run, since))
    if args.json:
        print(json.dumps(outcome.as_json(), ensure_ascii=False))
    else:
        print_outcome(out, outcome)
    return EXIT_OK if outcome.passed else EXIT_FAILED


def _load_cases(run_dir: Path) -> tuple[CaseSet, str]:
    """The cases and the run's id ("" from a run written before case ids)."""
    path = run_dir / EXPECTED_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CaseSet.from_json(data), str(data.get("run") or "")
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"{path} is not a go-live expectation ({exc!r})") from None


def _since(raw: str | None, run_dir: Path, zone: ZoneInfo) -> datetime | None:
    """`--since`, else run.sh's start time, else None (each pair's latest rows)."""
    flag = "--since"
    if raw is None:
        marker = run_dir / STARTED_AT
        if not marker.is_file():
            return None
        raw, flag = marker.read_text(encoding="utf-8").strip(), str(marker)
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Refused(f"{flag}: '{raw}' is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


async def _match(dsn: str, cases: CaseSet, run: str, since: datetime | None) -> Outcome:
    callers = {c.caller for c in cases.cases}
    start = since or datetime(1970, 1, 1, tzinfo=UTC)
    rows = await read_calls(dsn, lambda conn: load_rows(conn, callers, start), detail=False)
    return match(cases.cases, rows, latest=since is None, run=run)


def print_outcome(out: Console, outcome: Outcome) -> None:
    table = Table(title="Go-live verification", title_justify="left")
    for column in ("case", "route", "regime", "expected", "got", "result"):
        table.add_column(column)
    for verdict in outcome.verdicts:
        data = verdict.as_json()
        result = (
            "[green]pass[/]"
            if verdict.passed
            else "[red]FAIL[/] " + escape("; ".join(verdict.problems))
        )
        table.add_row(
            str(verdict.case.number),
            escape(verdict.case.route_id),
            escape(verdict.case.regime_id),
            escape(data["expected"]),
            escape(data["got"]),
            result,
        )
    out.print(table)
    failed = sum(not v.passed for v in outcome.verdicts)
    verdict_line = "[green]all passed[/]" if not failed else f"[red]{failed} failed[/]"
    out.print(f"{len(outcome.verdicts)} cases: {verdict_line}")
    by_case, by_order = outcome.matched(BY_CASE), outcome.matched(BY_ORDER)
    out.print(
        f"calls found by their case id: {by_case}"
        + (f"; by order (no case id recorded): {by_order}" if by_order else "")
    )
    if outcome.surplus:
        out.print(
            f"[yellow]{len(outcome.surplus)} more call(s) from the test callers than cases[/] "
            "(retries or manual calls?): " + ", ".join(r.linkedid for r in outcome.surplus[:5])
        )
