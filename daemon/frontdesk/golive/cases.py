"""The `frontdesk paths` matrix as go-live test cases (pure; no I/O).

One case per route and regime: who calls (a test caller the plan declares), which number
they dial, what they press and when, the routing time the call carries
(`X-Frontdesk-Route-Time`) and what the call row must then say. The unstaffed regime is
left out: a header cannot log agents out (run it by logging everyone out; docs/golive.md).

Callers. The first test caller is the *unknown* caller: it must not be in the patient
directory. Each kind of known caller the matrix needs (a language or specialty on file)
gets the next test caller, and `test_patients` lists the directory rows that make them
known (`frontdesk directory import`). Routes that need more test callers than the plan
declares are skipped, and said so.

Timing. The caller presses each key `key_gap` after the previous step, which lands while
the next menu plays (a key barges in, so a prompt shorter or longer than we guessed
changes nothing). A `-` waits for the menu to finish and its timeout to run out, which
needs the prompts' lengths: measured from the rendered WAV files when given, else
`prompt_seconds` each. After the last step the caller stays on the line for the
announcement or greeting and `hold` more seconds, then hangs up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.ivr import CallFacts, Ivr, StartTimer
from frontdesk.routing.paths import UNSTAFFED, Caller, PathMatrix, Route, build_matrix
from frontdesk.routing.simulate import TIMEOUT_KEY, Played, default_did, scripted_call

PromptLength = Callable[[str, str], float]  # (language, prompt name) -> seconds


class CasesError(Exception):
    """The plan cannot be go-live tested as it is (no test callers, no number to dial)."""


@dataclass(frozen=True)
class Timing:
    key_gap: float = 2.5  # seconds between keys (the next menu is playing by then)
    first_key: float = 3.0  # after the answer
    prompt_seconds: float = 3.0  # a prompt's length when no WAV says otherwise
    margin: float = 1.5  # added to every wait for a timeout
    hold: float = 6.0  # after the route, before hanging up


@dataclass(frozen=True)
class Step:
    """Wait `pause` seconds, then press `key` (None: stay silent through a timeout)."""

    pause: float
    key: str | None


@dataclass(frozen=True)
class Expected:
    route: str  # queue | voicemail | transfer (the FRONTDESK_ROUTE of the dialplan)
    destination: dict[str, Any]  # Destination.as_json(), as the call row stores it
    category: str
    language: str
    after_hours: bool
    holiday: bool
    urgent: bool
    known: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "destination": self.destination,
            "category": self.category,
            "language": self.language,
            "after_hours": self.after_hours,
            "holiday": self.holiday,
            "urgent": self.urgent,
            "known_patient": self.known,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expected:
        return cls(
            route=str(data["route"]),
            destination=dict(data["destination"]),
            category=str(data["category"]),
            language=str(data["language"]),
            after_hours=bool(data["after_hours"]),
            holiday=bool(data["holiday"]),
            urgent=bool(data["urgent"]),
            known=bool(data["known_patient"]),
        )


@dataclass(frozen=True)
class Case:
    number: int  # 1-based, in run order
    route_id: str
    regime_id: str
    description: str
    caller: str
    did: str
    keys: tuple[str, ...]
    route_time: datetime
    expected: Expected
    steps: tuple[Step, ...] = ()
    hold: float = 0.0  # after the last step

    @property
    def id(self) -> str:
        return f"{self.route_id}@{self.regime_id}"

    @property
    def duration(self) -> float:
        return sum(s.pause for s in self.steps) + self.hold

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "id": self.id,
            "route": self.route_id,
            "regime": self.regime_id,
            "description": self.description,
            "caller": self.caller,
            "did": self.did,
            "keys": list(self.keys),
            "route_time": self.route_time.isoformat(),
            "steps": [{"pause": s.pause, "key": s.key} for s in self.steps],
            "hold": self.hold,
            "expected": self.expected.as_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        return cls(
            number=int(data["number"]),
            route_id=str(data["route"]),
            regime_id=str(data["regime"]),
            description=str(data.get("description", "")),
            caller=str(data["caller"]),
            did=str(data["did"]),
            keys=tuple(str(k) for k in data["keys"]),
            route_time=datetime.fromisoformat(str(data["route_time"])),
            expected=Expected.from_json(dict(data["expected"])),
            steps=tuple(Step(float(s["pause"]), s["key"]) for s in data.get("steps", [])),
            hold=float(data.get("hold", 0.0)),
        )


@dataclass(frozen=True)
class TestPatient:
    """A directory row that makes a test caller the known caller a route needs."""

    __test__ = False  # not a pytest class

    phone: str
    patient_id: str
    language: str | None
    specialty: str | None


@dataclass
class CaseSet:
    plan: str
    timezone: str
    week_of: date
    cases: list[Case]
    test_patients: list[TestPatient]
    unknown_caller: str
    skipped: list[str] = field(default_factory=list)  # route ids without a test caller

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "timezone": self.timezone,
            "week_of": self.week_of.isoformat(),
            "unknown_caller": self.unknown_caller,
            "test_patients": [
                {
                    "phone": p.phone,
                    "patient_id": p.patient_id,
                    "preferred_language": p.language,
                    "specialty": p.specialty,
                }
                for p in self.test_patients
            ],
            "skipped_routes": self.skipped,
            "cases": [c.as_json() for c in self.cases],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseSet:
        return cls(
            plan=str(data.get("plan", "")),
            timezone=str(data["timezone"]),
            week_of=date.fromisoformat(str(data["week_of"])),
            cases=[Case.from_json(c) for c in data["cases"]],
            test_patients=[
                TestPatient(p["phone"], p["patient_id"], p["preferred_language"], p["specialty"])
                for p in data.get("test_patients", [])
            ],
            unknown_caller=str(data.get("unknown_caller", "")),
            skipped=[str(s) for s in data.get("skipped_routes", [])],
        )


def build_cases(
    plan: Plan,
    week_of: date,
    *,
    timing: Timing = Timing(),
    prompt_length: PromptLength | None = None,
    regimes: Iterable[str] | None = None,
) -> CaseSet:
    """Every route x regime (unstaffed left out; `regimes` narrows further) as a case."""
    callers = plan.golive.test_callers
    if not callers:
        raise CasesError(
            "the plan declares no test callers: add golive: {test_callers: [...]} (docs/golive.md)"
        )
    main = default_did(plan)
    if main is None:
        raise CasesError("the plan has no numbers: a go-live call needs a number to dial")
    clock = PracticeClock(plan)
    matrix = build_matrix(plan, week_of, clock)
    wanted = _regimes(matrix, regimes)
    assigned, patients, skipped = _assign_callers(matrix.routes, callers)
    length = prompt_length or (lambda _lang, _name: timing.prompt_seconds)
    cases: list[Case] = []
    for route in matrix.routes:
        caller = assigned.get(route.caller)
        if caller is None:
            continue
        for regime in (r for r in matrix.regimes if r.id in wanted):
            outcome = matrix.outcomes[route.id, regime.id]
            steps, hold = _timing(plan, clock, route, regime.at, timing, length)
            cases.append(
                Case(
                    number=len(cases) + 1,
                    route_id=route.id,
                    regime_id=regime.id,
                    description=route.description,
                    caller=caller,
                    did=route.did or main,
                    keys=route.keys,
                    route_time=regime.at,
                    expected=_expected(outcome.result.as_json(), route.caller.known),
                    steps=steps,
                    hold=hold,
                )
            )
    return CaseSet(
        plan.practice.name, plan.practice.timezone, week_of, cases, patients, callers[0], skipped
    )


def _regimes(matrix: PathMatrix, only: Iterable[str] | None) -> set[str]:
    known = [r.id for r in matrix.regimes if r.id != UNSTAFFED]
    if only is None:
        return set(known)
    wanted = set(only)
    unknown = sorted(wanted - set(known))
    if unknown:
        raise CasesError(f"unknown regime(s) {', '.join(unknown)}; the plan has {', '.join(known)}")
    return wanted


def _assign_callers(
    routes: list[Route], callers: tuple[str, ...]
) -> tuple[dict[Caller, str], list[TestPatient], list[str]]:
    """The first test caller is unknown; each known-caller profile takes the next one."""
    assigned: dict[Caller, str] = {Caller(): callers[0]}
    patients: list[TestPatient] = []
    skipped: list[str] = []
    spare = list(callers[1:])
    for route in routes:
        profile = route.caller
        if profile in assigned:
            continue
        if not profile.known:
            assigned[profile] = callers[0]
        elif spare:
            phone = spare.pop(0)
            assigned[profile] = phone
            patients.append(
                TestPatient(
                    phone, f"GOLIVE-{len(patients) + 1}", profile.language, profile.specialty
                )
            )
        else:
            skipped.append(route.id)
    return assigned, patients, skipped


def _expected(result: dict[str, Any], known: bool) -> Expected:
    destination = dict(result["destination"])
    return Expected(
        route=str(destination["kind"]),
        destination=destination,
        category=str(result["category"]),
        language=str(result["language"]),
        after_hours=bool(result["after_hours"]),
        holiday=result["holiday"] is not None,
        urgent=bool(result["urgent"]),
        known=known,
    )


# -- timing -----------------------------------------------------------------------------------
def _timing(
    plan: Plan,
    clock: PracticeClock,
    route: Route,
    at: datetime,
    timing: Timing,
    length: PromptLength,
) -> tuple[tuple[Step, ...], float]:
    """Drive the IVR itself (`scripted_call`, as `simulate` does) to know what plays
    before each step."""
    patient = route.caller.patient()
    facts = CallFacts(route.did, "+10000000000" if patient else None, patient)
    ivr = Ivr(plan, clock, facts, frozenset(s.extension for s in plan.staff))
    call = scripted_call(ivr, at, route.keys)
    steps: list[Step] = []
    playing: tuple[str, ...] = ()
    since: list[str] = []  # heard since the last step: a notice, an announcement
    for turn in call.turns:
        if isinstance(turn, Played):
            playing = turn.prompts
            since.extend(turn.prompts)
        else:
            steps.append(_step(turn.key, playing, turn.timer, turn.language, timing, length, steps))
            since.clear()
    heard = _seconds(call.language, since, length)
    return tuple(steps), round(heard + timing.hold, 1)


def _step(
    key: str,
    playing: tuple[str, ...],
    timer: StartTimer,
    language: str,
    timing: Timing,
    length: PromptLength,
    before: list[Step],
) -> Step:
    if key != TIMEOUT_KEY:
        return Step(timing.key_gap if before else timing.first_key, key)
    wait = _seconds(language, playing, length) + timer.delay.total_seconds() + timing.margin
    return Step(round(wait, 1), None)


def _seconds(language: str, prompts: Iterable[str], length: PromptLength) -> float:
    return sum(length(language, name) for name in prompts)


def route_time_header(case: Case) -> str:
    """The header value: ISO 8601 with the practice's offset, to the second."""
    return case.route_time.isoformat(timespec="seconds")


def run_id(generated_at: datetime) -> str:
    """A run's id, from when it was generated: `20261130T160000Z`."""
    return generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def case_tag(run: str, case: Case) -> str:
    """What a case's call sends as `X-Frontdesk-Case` and the daemon records:
    `<run id>:<case number>` (only characters the daemon accepts: override.case_id)."""
    return f"{run}:{case.number}"
