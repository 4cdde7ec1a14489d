"""`frontdesk prompts PLAN --out DIR`: the command that writes the plan's prompt files.

`DIR` is Asterisk's sounds folder (`/var/lib/asterisk/sounds`); the command writes
`DIR/<lang>/frontdesk/<name>.wav` for every prompt of every practice language, keeping
recordings (`frontdesk.prompts.files`). `--dry-run` lists the texts and needs no tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.plan import PlanError, read_plan
from frontdesk.prompts.files import Decision, FileResult, render_all
from frontdesk.prompts.inventory import Inventory, Prompt, PromptsError, build_inventory
from frontdesk.prompts.render import RenderError, Tools, ToolsMissing


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prompts",
        help="render the plan's prompts as 8 kHz WAV files for Asterisk (espeak-ng + sox)",
        description=(
            "Writes OUT/<lang>/frontdesk/<name>.wav for every prompt the plan can play in "
            "every practice language. Files frontdesk did not write (recordings) are kept."
        ),
    )
    parser.add_argument("plan", type=Path)
    parser.add_argument(
        "--out", type=Path, help="Asterisk sounds folder, e.g. /var/lib/asterisk/sounds"
    )
    parser.add_argument(
        "--force", action="store_true", help="also replace recordings and files newer than the plan"
    )
    parser.add_argument("--json", action="store_true", help="print the list of files as JSON")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list prompts and texts; render nothing (no tools needed)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Console) -> int:
    try:
        plan, _ = read_plan(args.plan)
        inventory = build_inventory(plan)
    except PlanError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_INVALID
    except PromptsError as exc:
        print(f"frontdesk prompts: {exc}", file=sys.stderr)
        return EXIT_INVALID
    target: Path | None = args.out
    if target is None and not args.dry_run:
        print("frontdesk prompts: --out DIR is required (or use --dry-run)", file=sys.stderr)
        return EXIT_INVALID
    tools: Tools | None = None
    if not args.dry_run:
        try:
            tools = Tools.find()
        except ToolsMissing as exc:
            print(f"frontdesk prompts: {exc}", file=sys.stderr)
            return EXIT_INVALID
    if not args.json:
        for warning in inventory.warnings:
            out.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    plan_mtime = args.plan.stat().st_mtime
    try:
        if target is None:
            results = [FileResult(p, Decision("create", "dry run")) for p in inventory.prompts]
        elif args.json or args.dry_run:
            results = render_all(
                inventory, target, plan_mtime, force=args.force, tools=tools, dry_run=args.dry_run
            )
        else:
            results = _render_with_progress(out, inventory, target, plan_mtime, args.force, tools)
    except (RenderError, OSError) as exc:
        print(f"frontdesk prompts: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(target) if target else None,
                    "dry_run": bool(args.dry_run),
                    "files": [r.as_json(target) for r in results],
                    "warnings": list(inventory.warnings),
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    elif args.dry_run or target is None:
        _print_dry_run(out, results, target)
    else:
        _print_summary(out, results, target)
    return EXIT_OK


def _render_with_progress(
    out: Console,
    inventory: Inventory,
    target: Path,
    plan_mtime: float,
    force: bool,
    tools: Tools | None,
) -> list[FileResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
    )
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("prompts", total=len(inventory.prompts), name="")

        def step(prompt: Prompt) -> None:
            progress.update(task, advance=1, name=str(prompt.path))

        return render_all(inventory, target, plan_mtime, force=force, tools=tools, step=step)


def _print_dry_run(out: Console, results: list[FileResult], target: Path | None) -> None:
    table = Table(title="Prompts (dry run)", title_justify="left")
    for column in ("file", "action", "text"):
        table.add_column(column, overflow="fold")
    for result in results:
        path = target / result.prompt.path if target else result.prompt.path
        table.add_row(str(path), result.decision.action, result.prompt.text)
    out.print(table)


def _print_summary(out: Console, results: list[FileResult], target: Path) -> None:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.decision.action] = counts.get(result.decision.action, 0) + 1
        if result.decision.action == "keep":
            out.print(
                f"kept {target / result.prompt.path}: {result.decision.reason} (--force replaces it)",
                markup=False,
                highlight=False,
            )
    done = ", ".join(f"{counts.get(a, 0)} {w}" for a, w in _WORDS)
    out.print(f"[green]{target}[/green]: {len(results)} prompt files — {done}")


_WORDS = (
    ("create", "created"),
    ("update", "updated"),
    ("unchanged", "unchanged"),
    ("keep", "kept"),
)
