"""`frontdesk paths`: every distinct route through a plan, crossed with every regime.

A *route* is what a caller does: which number they dial, who they are (unknown, or a
known patient with a language or specialty on file) and which keys they press. A
*regime* is a distinct combination of open and closed schedules in a week, plus a
holiday and an "open but nobody logged in" moment. Each cell of the matrix is one run
of `simulate`, i.e. of the IVR machine itself. Ids are derived from the plan, not from
enumeration order, so scripts (and SIPp scenarios) can rely on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from frontdesk.plan.model import DTMF_KEYS, Menu, Plan
from frontdesk.plan.schedule import DAYS, MINUTES_PER_DAY
from frontdesk.routing.clock import CLOSED, PracticeClock
from frontdesk.routing.destination import TransferDestination, VoicemailDestination, is_clinical
from frontdesk.routing.directory import Patient
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.simulate import TIMEOUT_KEY, Simulation, default_did, simulate

HOLIDAY = "holiday"
UNSTAFFED = "unstaffed"
_HOLIDAY_SEARCH_DAYS = 800


@dataclass(frozen=True)
class Caller:
    """Who calls: unknown, or a known patient with a language and/or specialty on file."""

    language: str | None = None
    specialty: str | None = None
    known: bool = False

    @property
    def tag(self) -> str:
        if not self.known:
            return "unknown"
        parts = [f"lang={self.language}"] if self.language else []
        parts += [f"specialty={self.specialty}"] if self.specialty else []
        return "known:" + ",".join(parts)

    def patient(self) -> Patient | None:
        return Patient("P-SIM", self.language, self.specialty) if self.known else None


@dataclass(frozen=True)
class Route:
    kind: str  # leaf | operator | silence | invalid | skip | did
    description: str
    did: str | None
    caller: Caller
    keys: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.did or 'main'}/{self.caller.tag}/{','.join(self.keys)}"


@dataclass(frozen=True)
class Regime:
    id: str
    description: str
    at: datetime
    open: dict[str, bool]
    staffed: bool = True
    spans: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    route: Route
    regime: Regime
    result: Simulation
    clinical: bool

    reaches_nobody: bool = False  # a transfer to an external that is closed then

    @property
    def at_risk(self) -> bool:
        """A clinical call that does not reach a live person or a nurse line."""
        ends_in_voicemail = isinstance(self.result.decision.destination, VoicemailDestination)
        return self.clinical and (ends_in_voicemail or self.reaches_nobody)


@dataclass
class PathMatrix:
    plan: Plan
    routes: list[Route]
    regimes: list[Regime]
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    def at_risk(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.at_risk]

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.practice.name,
            "regimes": [_regime_json(r) for r in self.regimes],
            "routes": [self._route_json(r) for r in self.routes],
            "at_risk": [_outcome_ref(o) for o in self.at_risk()],
        }

    def _route_json(self, route: Route) -> dict[str, Any]:
        outcomes = {}
        for regime in self.regimes:
            outcome = self.outcomes[route.id, regime.id]
            result = outcome.result.as_json()
            outcomes[regime.id] = {
                k: result[k]
                for k in (
                    "language",
                    "category",
                    "urgent",
                    "after_hours",
                    "holiday",
                    "destination",
                    "prompts",
                )
            } | {"clinical": outcome.clinical}
        return {
            "id": route.id,
            "kind": route.kind,
            "description": route.description,
            "did": route.did,
            "caller": {
                "known": route.caller.known,
                "language": route.caller.language,
                "specialty": route.caller.specialty,
            },
            "keys": list(route.keys),
            "outcomes": outcomes,
        }


def build_matrix(plan: Plan, week_of: date, clock: PracticeClock | None = None) -> PathMatrix:
    clock = clock or PracticeClock(plan)
    matrix = PathMatrix(plan, list(enumerate_routes(plan)), regimes(plan, clock, week_of))
    everyone = frozenset(s.extension for s in plan.staff)
    for route in matrix.routes:
        facts = CallFacts(
            route.did, None if not route.caller.known else "+10000000000", route.caller.patient()
        )
        for regime in matrix.regimes:
            result = simulate(
                plan,
                at=regime.at,
                facts=facts,
                keys=route.keys,
                logged_in=everyone if regime.staffed else frozenset(),
                clock=clock,
            )
            decision = result.decision
            clinical = is_clinical(plan, decision.request, decision.deciding_queue)
            closed = isinstance(
                decision.destination, TransferDestination
            ) and not clock.external_open(decision.destination.target, regime.at)
            matrix.outcomes[route.id, regime.id] = Outcome(route, regime, result, clinical, closed)
    return matrix


# -- routes ---------------------------------------------------------------------------
def enumerate_routes(plan: Plan) -> Iterator[Route]:
    main = default_did(plan)
    if main is not None and not plan.numbers[main].is_main:
        main = None  # no main number: an unknown DID reaches the menus
    default = plan.practice.default_language
    for code, lang in plan.practice.languages.items():
        prefix: tuple[str, ...]
        if code == default:
            caller, prefix, note = Caller(), (), ""
        elif lang.key is not None:
            caller, prefix, note = Caller(), (lang.key,), f" [{code} by key {lang.key}]"
        else:
            caller, prefix, note = Caller(code, known=True), (), f" [{code} on file]"
        yield from _menu_routes(plan, plan.menu, (), prefix, caller, main, note, code)
    yield from _skip_routes(plan, main)
    for number, entry in plan.numbers.items():
        if not entry.is_main:
            what = "urgent" if entry.urgent else f"{entry.category} -> {entry.queue}"
            yield Route("did", f"number {number}: {what}", number, Caller(), ())


def _menu_routes(
    plan: Plan,
    menu: Menu,
    path: tuple[str, ...],
    prefix: tuple[str, ...],
    caller: Caller,
    did: str | None,
    note: str,
    language: str,
) -> Iterator[Route]:
    where = "menu " + " > ".join(path) if path else "main menu"
    keys = (*prefix, *path)
    for key, option in menu.options.items():
        label = option.label.get(language) or next(iter(option.label.values()), "")
        if option.menu is not None:
            yield from _menu_routes(
                plan, option.menu, (*path, key), prefix, caller, did, note, language
            )
        else:
            name = "menu " + " > ".join((*path, key))
            yield Route("leaf", f"{name} ({label}){note}", did, caller, (*keys, key))
    tries = plan.retries_at(path) + 1
    operator = plan.operator_key_at(path)
    yield Route("operator", f"{where}: operator key{note}", did, caller, (*keys, operator))
    yield Route(
        "silence", f"{where}: no input{note}", did, caller, (*keys, *(TIMEOUT_KEY,) * tries)
    )
    bad = _unused_key(plan, menu, path, operator)
    if bad is not None:
        yield Route(
            "invalid", f"{where}: invalid key {bad}{note}", did, caller, (*keys, *(bad,) * tries)
        )


def _skip_routes(plan: Plan, did: str | None) -> Iterator[Route]:
    for key, option in plan.menu.options.items():
        submenu = option.menu
        if submenu is None or submenu.skip_if_known != "specialty":
            continue
        for child_key, child in submenu.options.items():
            if child.skill and child.menu is None:
                caller = Caller(specialty=child.skill, known=True)
                text = f"menu {key}: known {child.skill} patient skips to {key} > {child_key}"
                yield Route("skip", text, did, caller, (key,))


def _unused_key(plan: Plan, menu: Menu, path: tuple[str, ...], operator: str) -> str | None:
    used = set(menu.options) | {operator}
    if not path:
        used |= {lang.key for lang in plan.practice.languages.values() if lang.key}
    return next((k for k in DTMF_KEYS if k not in used), None)


# -- regimes ----------------------------------------------------------------------------
def regimes(plan: Plan, clock: PracticeClock, week_of: date) -> list[Regime]:
    """Distinct open/closed combinations of a holiday-free week, a holiday, and unstaffed."""
    monday = _quiet_monday(clock, week_of)
    names = list(plan.schedules)
    found: dict[tuple[bool, ...], list[tuple[int, int, int]]] = {}
    for weekday in range(7):
        cuts = sorted({0, MINUTES_PER_DAY} | {m for d, m in _boundaries(plan) if d == weekday})
        for start, end in pairwise(cuts):
            probe = datetime.combine(monday + timedelta(days=weekday), _clock(start))
            state = tuple(plan.schedules[n].is_open(probe) for n in names)
            found.setdefault(state, []).append((weekday, start, end))
    result = []
    for state, spans in found.items():
        weekday, start, _ = spans[0]
        at = datetime.combine(monday + timedelta(days=weekday), _clock(start), clock.zone)
        is_open = dict(zip(names, state, strict=True))
        opened = [n for n in names if is_open[n]]
        regime_id = "+".join(opened) if opened else "closed"
        text = f"open: {', '.join(opened)}" if opened else "every schedule closed"
        result.append(Regime(regime_id, text, at, is_open, True, _describe_spans(spans)))
    busiest = max(result, key=lambda r: sum(r.open.values()))
    holiday = _holiday_regime(plan, clock, week_of, busiest)
    if holiday is not None:
        result.append(holiday)
    unstaffed_text = f"{busiest.description}, nobody logged in"
    result.append(Regime(UNSTAFFED, unstaffed_text, busiest.at, busiest.open, False, busiest.spans))
    return result


def _boundaries(plan: Plan) -> set[tuple[int, int]]:
    return {b for schedule in plan.schedules.values() for b in schedule.boundaries()}


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _quiet_monday(clock: PracticeClock, week_of: date) -> date:
    """The first Monday on or after `week_of` starting a week without holidays."""
    monday = week_of + timedelta(days=(7 - week_of.weekday()) % 7)
    for _ in range(60):
        if all(clock.holiday_on(monday + timedelta(days=i)) is None for i in range(7)):
            return monday
        monday += timedelta(days=7)
    return monday


def _holiday_regime(
    plan: Plan, clock: PracticeClock, week_of: date, busiest: Regime
) -> Regime | None:
    """The first holiday on which, at the busiest regime's time, some schedule would be open."""
    at_time = busiest.at.timetz().replace(tzinfo=None)
    for offset in range(_HOLIDAY_SEARCH_DAYS):
        day = week_of + timedelta(days=offset)
        name = clock.holiday_on(day)
        at = datetime.combine(day, at_time, clock.zone)
        if name is not None and any(s.is_open(at) for s in plan.schedules.values()):
            closed = dict.fromkeys(plan.schedules, False)
            what = "practice closure" if name == CLOSED else name
            return Regime(HOLIDAY, f"{what} ({day.isoformat()}): every schedule closed", at, closed)
    return None


def _describe_spans(spans: list[tuple[int, int, int]]) -> tuple[str, ...]:
    """[(0, 480, 540), ..., (4, 480, 540)] -> ('mon-fri 08:00-09:00',)."""
    by_time: dict[tuple[int, int], list[int]] = {}
    for weekday, start, end in spans:
        by_time.setdefault((start, end), []).append(weekday)
    out = []
    for (start, end), days in by_time.items():
        runs: list[list[int]] = []
        for day in days:
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        text = ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs)
        out.append(
            f"{text} {_clock(start):%H:%M}-{'24:00' if end == MINUTES_PER_DAY else f'{_clock(end):%H:%M}'}"
        )
    return tuple(out)


def _regime_json(regime: Regime) -> dict[str, Any]:
    return {
        "id": regime.id,
        "description": regime.description,
        "at": regime.at.isoformat(),
        "open": regime.open,
        "staffed": regime.staffed,
        "when": list(regime.spans),
    }


def _outcome_ref(outcome: Outcome) -> dict[str, Any]:
    return {
        "route": outcome.route.id,
        "description": outcome.route.description,
        "regime": outcome.regime.id,
        "category": outcome.result.decision.request.category,
        "destination": outcome.result.decision.destination.as_json(),
    }
