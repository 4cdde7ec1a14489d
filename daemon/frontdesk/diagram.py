"""`frontdesk diagram`: the plan's call flow as a picture, for review before go-live.

`plan_to_dot` is pure: the plan and a moment in, a Graphviz DOT graph out (numbers ->
menus -> options -> queues -> after-hours destinations, the urgent path, the operator
and no-input fallbacks, the language key and language fallbacks), with each queue
showing whether its schedule is open at that moment. `render_svg` hands the DOT to
Graphviz's `dot` (Debian package `graphviz`) to draw it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.plan import read_plan
from frontdesk.plan.model import FRONT_DESK, AfterHours, Menu, Option, Plan
from frontdesk.plan.schedule import ALWAYS, DAYS, WeeklySchedule
from frontdesk.routing.clock import PracticeClock

RENDER_TIMEOUT_SECONDS = 30.0
MAX_SVG_BYTES = 20 * 1024 * 1024
TIMES = "\N{MULTIPLICATION SIGN}"
INSTALL_HINT = "install Graphviz: apt-get install graphviz"

OPEN_STYLE = 'style="rounded,filled", fillcolor="#d9f2d0", color="#2e7d32"'
CLOSED_STYLE = 'style="rounded,filled", fillcolor="#e6e6e6", color="#757575"'

# How a language names itself, for the language key's note ("9: español").
LANGUAGE_NAMES = {
    "ar": "العربية",
    "de": "Deutsch",
    "en": "English",
    "es": "español",
    "fr": "français",
    "hi": "हिन्दी",
    "ht": "kreyòl ayisyen",
    "it": "italiano",
    "ko": "한국어",
    "pl": "polski",
    "pt": "português",
    "ru": "русский",
    "tl": "Tagalog",
    "vi": "Tiếng Việt",
    "zh": "中文",
}


class DiagramError(Exception):
    """The diagram could not be drawn (Graphviz missing, failed or too slow)."""


# -- DOT (pure) ---------------------------------------------------------------------------
def quote(text: str) -> str:
    """A DOT quoted string holding `text` as a plain label, shown literally.

    Backslashes and quotes are escaped, line breaks become DOT's centred `\\n`, other
    control characters are dropped, and `&`, `<`, `>` become entities so Graphviz never
    reads them as markup or entities of its own.
    """
    out: list[str] = []
    for char in text.replace("\r\n", "\n").replace("\r", "\n"):
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(" " if char == "\t" else "")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def did_id(number: str) -> str:
    return f"did:{number}"


def menu_id() -> str:
    return "menu:main"


def option_id(path: tuple[str, ...]) -> str:
    return "option:" + ".".join(path)


def queue_id(name: str) -> str:
    return f"queue:{name}"


def voicemail_id(queue: str) -> str:
    return f"voicemail:{queue}"


def external_id(name: str) -> str:
    return f"external:{name}"


URGENT_ID = "urgent"


class _Graph:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._nodes: set[str] = set()

    def node(self, node: str, label: str, attrs: str = "") -> None:
        if node in self._nodes:
            return
        self._nodes.add(node)
        extra = f", {attrs}" if attrs else ""
        self.lines.append(f"  {quote(node)} [label={quote(label)}{extra}];")

    def edge(self, tail: str, head: str, label: str = "", attrs: str = "") -> None:
        parts = [f"label={quote(label)}"] if label else []
        if attrs:
            parts.append(attrs)
        suffix = f" [{', '.join(parts)}]" if parts else ""
        self.lines.append(f"  {quote(tail)} -> {quote(head)}{suffix};")


def plan_to_dot(plan: Plan, *, now: datetime, clock: PracticeClock) -> str:
    """The plan's call flow as a left-to-right DOT digraph, queue states as of `now`."""
    local = clock.local(now)
    holiday = clock.holiday(now)
    english = _english(plan)
    graph = _Graph()

    title = f"{plan.practice.name}: call flow, state at {local:%a %Y-%m-%d %H:%M %Z}"
    if holiday is not None:
        title += f" (holiday: {holiday})"

    # Queues first, so that every queue appears even when no route names it.
    for name, queue in plan.queues.items():
        schedule = plan.schedules.get(queue.schedule)
        hours = _hours(schedule) if schedule is not None else "unknown schedule"
        is_open = schedule is not None and clock.schedule_open(queue.schedule, now)
        state = "open now" if is_open else "closed now"
        if holiday is not None:
            state += f" (holiday: {holiday})"
        graph.node(
            queue_id(name),
            f"queue {name}\n{queue.schedule}: {hours}\n{state}",
            f"shape=box, {OPEN_STYLE if is_open else CLOSED_STYLE}",
        )
        if queue.after_hours is not None:
            _after_hours(graph, plan, queue_id(name), queue.after_hours, voicemail_id(name))

    for number, entry in plan.numbers.items():
        graph.node(did_id(number), f"dialled number\n{number}", "shape=cds")
        if entry.is_main:
            graph.edge(did_id(number), menu_id(), "main number")
            continue
        what = f"direct: {entry.category}" if entry.category else "direct"
        _leaf(graph, did_id(number), entry.queue, entry.skill, entry.urgent, what)

    notice = "\n(emergency notice plays first)" if plan.practice.emergency_notice else ""
    graph.node(menu_id(), f"main menu{notice}", "shape=box, style=bold")
    for language, settings in list(plan.practice.languages.items())[1:]:
        if settings.key is not None:
            name = LANGUAGE_NAMES.get(language, language)
            graph.edge(
                menu_id(),
                menu_id(),
                f"{settings.key}: {name}\n(replays the menu)",
                "style=dotted, arrowhead=none",
            )
    _menu(graph, plan, plan.menu, (), menu_id(), english)

    if plan.urgent is not None:
        graph.node(
            URGENT_ID,
            "URGENT\n(never voicemail, never a language fallback)",
            'shape=octagon, style=filled, fillcolor="#ffd6d6", color="#c62828"',
        )
        business = plan.urgent.business_hours
        if business is not None:
            graph.edge(
                URGENT_ID,
                queue_id(business.queue),
                f"business hours\npriority {business.priority}, no skill",
                'color="#c62828"',
            )
        if plan.urgent.after_hours is not None:
            _after_hours(graph, plan, URGENT_ID, plan.urgent.after_hours, "urgent:voicemail")

    for language, settings in plan.practice.languages.items():
        if settings.skill is None or settings.fallback is None:
            continue
        target = _named_target(graph, plan, settings.fallback)
        for name in plan.queues:
            if not any(m.level(settings.skill) > 0 for m in plan.members(name)):
                graph.edge(
                    queue_id(name),
                    target,
                    f"{language}: no agent with {settings.skill}",
                    "style=dashed",
                )

    header = [
        "digraph frontdesk {",
        f"  graph [rankdir=LR, charset={quote('UTF-8')}, labelloc=t, fontname=Helvetica, "
        f"label={quote(title)}];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    return "\n".join([*header, *graph.lines, "}"]) + "\n"


def _hours(schedule: WeeklySchedule) -> str:
    """`mon-fri 08:00-17:00; sat 09:00-12:00`: runs of days with the same hours."""
    if schedule.is_always_open:
        return ALWAYS
    runs: list[tuple[int, int, str]] = []
    for weekday, day in enumerate(schedule.days):
        text = ", ".join(str(interval) for interval in day)
        if runs and text and runs[-1][2] == text and runs[-1][1] == weekday - 1:
            runs[-1] = (runs[-1][0], weekday, text)
        elif text:
            runs.append((weekday, weekday, text))
    parts = [
        f"{DAYS[first]}{'' if first == last else '-' + DAYS[last]} {text}"
        for first, last, text in runs
    ]
    return "; ".join(parts) or "never open"


def _english(plan: Plan) -> str:
    languages = plan.practice.languages
    return "en" if "en" in languages else plan.practice.default_language


def _label(option: Option, language: str) -> str:
    if language in option.label:
        return option.label[language]
    return next(iter(option.label.values()), "")


def _menu(
    graph: _Graph, plan: Plan, menu: Menu, path: tuple[str, ...], node: str, language: str
) -> None:
    for key, option in menu.options.items():
        child = option_id((*path, key))
        text = f"{key}: {_label(option, language)}"
        if option.menu is not None:
            skip = (
                "\n(known patient: straight to the specialty on file)"
                if option.menu.skip_if_known
                else ""
            )
            graph.node(child, f"{text}\n(submenu){skip}", "shape=box, style=bold")
            graph.edge(node, child)
            _menu(graph, plan, option.menu, (*path, key), child, language)
            continue
        graph.node(child, text, "shape=box")
        graph.edge(node, child)
        _leaf(graph, child, option.queue, option.skill, option.urgent, option.category or "")
    operator = plan.operator_key_at(path)
    tries = plan.retries_at(path) + 1
    graph.edge(
        node,
        queue_id(FRONT_DESK),
        f"{operator}: operator\nno input / invalid {TIMES}{tries}",
        'style=dashed, color="#555555"',
    )


def _leaf(
    graph: _Graph, node: str, queue: str | None, skill: str | None, urgent: bool, what: str
) -> None:
    if urgent:
        graph.edge(node, URGENT_ID, "urgent", 'color="#c62828"')
        return
    label = ", ".join(part for part in (what, f"skill {skill}" if skill else "") if part)
    graph.edge(node, queue_id(queue or FRONT_DESK), label)


def _after_hours(
    graph: _Graph, plan: Plan, node: str, after: AfterHours, voicemail_node: str
) -> None:
    if after.voicemail is not None:
        callback = f"\ncallback: {after.callback}" if after.callback else ""
        graph.node(voicemail_node, f"voicemail box {after.voicemail}{callback}", "shape=note")
        graph.edge(node, voicemail_node, "after hours")
    elif after.transfer is not None:
        graph.edge(node, _named_target(graph, plan, after.transfer), "after hours")


def _named_target(graph: _Graph, plan: Plan, name: str) -> str:
    """An external transfer target (by name, never its dial string) or a queue."""
    if name in plan.queues and name not in plan.external:
        return queue_id(name)
    external = plan.external.get(name)
    hours = f"\n({external.hours})" if external is not None and external.hours else ""
    announce = (
        f"\nannounce: {external.announce}" if external is not None and external.announce else ""
    )
    graph.node(external_id(name), f"transfer: {name}{hours}{announce}", "shape=component")
    return external_id(name)


# -- rendering (Graphviz) ---------------------------------------------------------------
def render_svg(dot: str, *, timeout: float = RENDER_TIMEOUT_SECONDS) -> str:
    """Draw DOT as SVG with Graphviz's `dot`; DiagramError when it is missing or fails."""
    program = shutil.which("dot")
    if program is None:
        raise DiagramError(f"Graphviz's `dot` was not found on PATH; {INSTALL_HINT}")
    # Output goes to a temporary file, read back only up to the bound.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        try:
            result = subprocess.run(
                [program, "-Tsvg"],
                input=dot.encode("utf-8"),
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DiagramError(f"Graphviz took longer than {timeout:g} s") from None
        except OSError as exc:
            raise DiagramError(f"could not run Graphviz ({exc}); {INSTALL_HINT}") from None
        if result.returncode != 0:
            stderr.seek(0)
            detail = stderr.read(2000).decode("utf-8", "replace").strip()
            raise DiagramError(f"Graphviz failed (exit {result.returncode}): {detail}")
        if os.fstat(stdout.fileno()).st_size > MAX_SVG_BYTES:
            raise DiagramError(f"Graphviz's SVG is larger than {MAX_SVG_BYTES} bytes")
        stdout.seek(0)
        return stdout.read(MAX_SVG_BYTES).decode("utf-8", "replace")


# -- the command ------------------------------------------------------------------------
def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diagram",
        help="draw the plan's call flow (SVG via Graphviz, or DOT)",
        description=(
            "Numbers, menus, options, queues with today's open/closed state, after-hours "
            "destinations, the urgent path and the fallbacks, as one picture to review."
        ),
    )
    parser.add_argument("plan", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="file to write, e.g. flow.svg")
    parser.add_argument("--format", choices=("svg", "dot"), default="svg")
    parser.add_argument("--at", help="ISO 8601; naive = practice local time (default: now)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Console) -> int:
    plan, _ = read_plan(args.plan)  # a PlanError is reported by the main command
    clock = PracticeClock(plan)
    if args.at is None:
        now = datetime.now(UTC)
    else:
        try:
            now = datetime.fromisoformat(args.at)
        except ValueError:
            print(
                f"frontdesk diagram: --at: '{args.at}' is not an ISO 8601 time like "
                "2026-11-30T10:15",
                file=sys.stderr,
            )
            return EXIT_INVALID
    dot = plan_to_dot(plan, now=now, clock=clock)
    if args.format == "dot":
        text = dot
    else:
        try:
            text = render_svg(dot)
        except DiagramError as exc:
            print(f"frontdesk diagram: {exc}", file=sys.stderr)
            return EXIT_INVALID
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"frontdesk diagram: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    out.print(f"wrote {args.out}", markup=False, highlight=False)
    return EXIT_OK
