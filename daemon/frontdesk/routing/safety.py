"""The safety rules behind `frontdesk check`: a plan that loads may still be unsafe.

Each refusal names the plan key to fix and the call path that breaks the rule. The
clinical-voicemail rule does not reason about the plan separately: it runs every
route of `frontdesk paths` through every regime (holidays and unstaffed hours
included) and refuses if any clinical call ends in a voicemail box.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from frontdesk.plan.errors import KeyPath, PlanIssue
from frontdesk.plan.model import FRONT_DESK, Menu, Plan
from frontdesk.plan.schedule import ALWAYS
from frontdesk.plan.source import SourceMap
from frontdesk.routing.destination import TransferDestination, VoicemailDestination
from frontdesk.routing.paths import Outcome, PathMatrix, build_matrix

MAX_OPTIONS = 4
MAX_LEVELS = 2
_Found = tuple[KeyPath, str, bool]  # path, message, is_warning


def check_plan(plan: Plan, lines: SourceMap, week_of: date) -> tuple[list[PlanIssue], PathMatrix]:
    """Every refusal and warning, plus the path matrix the clinical rule was judged on."""
    matrix = build_matrix(plan, week_of)
    found = [
        *_menu_limits(plan.menu, ("menu",), level=1),
        *_staffing(plan),
        *_destinations(plan),
        *_urgent(plan),
        *_clinical_voicemail(matrix),
        *_languages(plan),
    ]
    issues = [
        PlanIssue(lines.file, lines.line(path), path, message, "warning" if warn else "error")
        for path, message, warn in found
    ]
    return sorted(issues, key=lambda i: (i.severity == "error", i.line)), matrix


def _menu_limits(menu: Menu, path: KeyPath, level: int) -> Iterator[_Found]:
    if len(menu.options) > MAX_OPTIONS:
        yield (
            (*path, "options"),
            f"{len(menu.options)} options; a menu has at most {MAX_OPTIONS} "
            "(operator and language keys aside): callers forget longer lists",
            False,
        )
    for key, option in menu.options.items():
        if option.menu is None:
            continue
        if level >= MAX_LEVELS:
            yield (
                (*path, "options", key, "menu"),
                f"menus go at most {MAX_LEVELS} levels deep",
                False,
            )
        yield from _menu_limits(option.menu, (*path, "options", key, "menu"), level + 1)


def _staffing(plan: Plan) -> Iterator[_Found]:
    for name in plan.queues:
        members = plan.members(name)
        if not members:
            yield ("queues", name), "no staff member is in this queue", False
        elif len(members) == 1:
            who = f"{members[0].name} ({members[0].extension})"
            yield (
                ("queues", name),
                f"only one staff member, {who}: routing tied to one person breaks when staff change",
                True,
            )


def _requests(plan: Plan) -> Iterator[tuple[KeyPath, str, str | None, str | None, bool]]:
    """(plan path, category, queue, skill, urgent) for every leaf and DID entry."""
    yield ("menu",), "operator", FRONT_DESK, None, False

    def walk(
        menu: Menu, path: KeyPath, category: str | None
    ) -> Iterator[tuple[KeyPath, str, str | None, str | None, bool]]:
        for key, option in menu.options.items():
            here = (*path, "options", key)
            own = option.category or category
            if option.menu is not None:
                yield from walk(option.menu, (*here, "menu"), own)
            else:
                yield here, own or "unrouted", option.queue, option.skill, option.urgent

    yield from walk(plan.menu, ("menu",), None)
    for number, entry in plan.numbers.items():
        if not entry.is_main:
            yield (
                ("numbers", number),
                entry.category or "unrouted",
                entry.queue,
                entry.skill,
                entry.urgent,
            )


def _destinations(plan: Plan) -> Iterator[_Found]:
    reported: set[str] = set()
    for path, category, queue_name, skill, urgent in _requests(plan):
        if urgent or queue_name is None:
            continue
        queue = plan.queues[queue_name]
        if queue.after_hours is None and queue_name not in reported:
            reported.add(queue_name)
            yield (
                ("queues", queue_name),
                f"no after_hours: category '{category}' ({_where(path)}) has nowhere to go when it is closed",
                False,
            )
        if (
            plan.schedules[queue.schedule].weekly_hours() == 0
            and f"closed:{queue_name}" not in reported
        ):
            reported.add(f"closed:{queue_name}")
            yield (
                ("queues", queue_name, "schedule"),
                f"schedule '{queue.schedule}' is never open: category '{category}' has no business-hours destination",
                False,
            )
        if skill and not any(m.level(skill) > 0 for m in plan.members(queue_name)):
            yield (
                (*path, "skill"),
                f"no member of queue '{queue_name}' has skill '{skill}': these callers wait "
                f"{int(queue.skill_relax_after.total_seconds())}s before anyone may answer",
                True,
            )


def _where(path: KeyPath) -> str:
    if path[0] == "numbers":
        return f"number {path[1]}"
    keys = [str(p) for i, p in enumerate(path) if i > 0 and path[i - 1] == "options"]
    return "menu " + " > ".join(keys) if keys else "operator key"


def _urgent(plan: Plan) -> Iterator[_Found]:
    leaves = [path for path, _, _, _, urgent in _requests(plan) if urgent]
    if plan.urgent is None and not leaves:
        return
    used_by = f" (used by {_where(leaves[0])})" if leaves else ""
    urgent = plan.urgent
    if urgent is None or urgent.business_hours is None:
        yield ("urgent",), f"urgent calls need a business_hours queue{used_by}", False
    after = urgent.after_hours if urgent else None
    if after is None or after.transfer is None:
        what = "a voicemail box" if after is not None else "nothing"
        yield (
            ("urgent", "after_hours") if after else ("urgent",),
            f"urgent calls after hours go to {what}; they need a transfer to a target open {ALWAYS}{used_by}",
            False,
        )
    elif plan.external[after.transfer].hours != ALWAYS:
        yield (
            ("urgent", "after_hours", "transfer"),
            f"'{after.transfer}' is not open {ALWAYS}: set hours: \"{ALWAYS}\" on external.{after.transfer} "
            "or transfer urgent calls to a line that is",
            False,
        )


def _clinical_voicemail(matrix: PathMatrix) -> Iterator[_Found]:
    grouped: dict[tuple[KeyPath, str], list[Outcome]] = {}
    for outcome in matrix.at_risk():
        grouped.setdefault(_risk(outcome), []).append(outcome)
    for (path, what), outcomes in grouped.items():
        routes = list(dict.fromkeys(o.route.description for o in outcomes))
        regimes = list(dict.fromkeys(o.regime.id for o in outcomes))
        shown = "; ".join(routes[:3]) + (f"; and {len(routes) - 3} more" if len(routes) > 3 else "")
        yield (
            path,
            f"clinical calls can {what} ({shown}) when {', '.join(regimes)}: "
            "clinical callers must reach a live person or a nurse line at every hour",
            False,
        )


def _risk(outcome: Outcome) -> tuple[KeyPath, str]:
    """The plan key to fix and what goes wrong, for one at-risk outcome."""
    decision = outcome.result.decision
    destination = decision.destination
    if isinstance(destination, TransferDestination):
        return (
            "external",
            destination.target,
            "hours",
        ), f"be sent to '{destination.target}' while it is closed"
    box = destination.box if isinstance(destination, VoicemailDestination) else "?"
    if decision.request.urgent:
        return ("urgent", "after_hours"), f"end in voicemail '{box}'"
    return (
        "queues",
        decision.deciding_queue or FRONT_DESK,
        "after_hours",
    ), f"end in voicemail '{box}'"


def _languages(plan: Plan) -> Iterator[_Found]:
    for code, lang in plan.practice.languages.items():
        if lang.skill and not lang.fallback:
            yield (
                ("practice", "languages", code),
                f"no fallback: when no agent with '{lang.skill}' is logged in, "
                f"'{code}' callers are queued for anyone",
                True,
            )
