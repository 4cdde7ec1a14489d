"""The IVR as a sans-IO state machine (docs/routing.md §2, "The menu").

Events go in (`handle(event, now)`), commands come out; the machine never plays,
waits or sleeps itself. Playbacks and timers carry sequence numbers so that a late
`PromptsFinished` or `TimerElapsed` from an earlier step is ignored, as is any event
after the call was routed or hung up. The live daemon and `frontdesk simulate` drive
this same machine.

Prompt names (Asterisk plays `sound:frontdesk/<name>` in the channel's language):
`emergency-notice`; `menu-<k>` and `menu-<k>-<j>` for each option's label;
`menu-operator`; `language-<code>` for each language offered by key;
`invalid-option`; `voicemail-<box>` (greeting with the callback window); and an
external's `announce` prompt.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, auto

from frontdesk.plan.model import Menu, Option, Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import OPERATOR, UNROUTED, Decision, Request, decide
from frontdesk.routing.directory import Patient

EMERGENCY_NOTICE = "emergency-notice"
INVALID_OPTION = "invalid-option"


@dataclass(frozen=True)
class CallFacts:
    """What is known when the call arrives: dialled number, caller, directory match."""

    did: str | None
    caller: str | None
    patient: Patient | None = None


# Events in
@dataclass(frozen=True)
class PromptsFinished:
    playback: int


@dataclass(frozen=True)
class KeyPressed:
    key: str


@dataclass(frozen=True)
class TimerElapsed:
    timer: int


@dataclass(frozen=True)
class HungUp:
    pass


Event = PromptsFinished | KeyPressed | TimerElapsed | HungUp


# Commands out
@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class PlayPrompts:
    playback: int
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class StopPrompts:
    playback: int


@dataclass(frozen=True)
class StartTimer:
    timer: int
    delay: timedelta


@dataclass(frozen=True)
class CancelTimer:
    timer: int


@dataclass(frozen=True)
class RouteCall:
    decision: Decision


Command = SetLanguage | PlayPrompts | StopPrompts | StartTimer | CancelTimer | RouteCall


class Phase(Enum):
    NEW = auto()
    NOTICE = auto()  # emergency notice before a direct (DID) entry
    PLAYING = auto()  # a menu is playing; keys barge in
    WAITING = auto()  # the menu finished; the timer runs
    ANNOUNCING = auto()  # the route is decided; its announce/greeting plays
    ROUTED = auto()
    HUNG_UP = auto()


class Ivr:
    def __init__(
        self,
        plan: Plan,
        clock: PracticeClock,
        facts: CallFacts,
        logged_in: Collection[str],
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.facts = facts
        self.logged_in = logged_in  # live view: read at decision time
        self.phase = Phase.NEW
        self.language = _initial_language(plan, facts.patient)
        self.menu_path: tuple[str, ...] = ()
        self.attempts = 0
        self.category: str | None = None
        self.decision: Decision | None = None
        self._direct: Request | None = None
        self._seq = 0
        self._playback = -1
        self._timer = -1

    # -- public API ---------------------------------------------------------------
    def start(self, now: datetime) -> list[Command]:
        assert self.phase is Phase.NEW, "start() is called once"
        notice = (EMERGENCY_NOTICE,) if self.plan.practice.emergency_notice else ()
        commands: list[Command] = [SetLanguage(self.language)]
        entry = self.plan.numbers.get(self.facts.did or "")
        if entry is not None and not entry.is_main:
            self._direct = Request(
                entry.category or UNROUTED, entry.queue, entry.skill, entry.urgent
            )
            if notice:
                self.phase = Phase.NOTICE
                return [*commands, self._play(notice)]
            return commands + self._route(self._direct, now)
        self.phase = Phase.PLAYING
        return [*commands, self._play(notice + self.menu_prompts())]

    def handle(self, event: Event, now: datetime) -> list[Command]:
        if self.phase in (Phase.ROUTED, Phase.HUNG_UP):
            return []
        if isinstance(event, HungUp):
            self.phase = Phase.HUNG_UP
            return []
        if isinstance(event, PromptsFinished):
            return self._prompts_finished(event, now)
        if isinstance(event, TimerElapsed):
            if self.phase is Phase.WAITING and event.timer == self._timer:
                return self._retry((), now)
            return []
        return self._key(event.key, now)

    @property
    def menu(self) -> Menu:
        return self.plan.menus_at(self.menu_path)[0]

    def menu_prompts(self) -> tuple[str, ...]:
        prefix = "-".join(("menu", *self.menu_path))
        prompts = [f"{prefix}-{key}" for key in self.menu.options]
        prompts.append("menu-operator")
        if not self.menu_path:
            for code, lang in self.plan.practice.languages.items():
                if lang.key is not None and code != self.language:
                    prompts.append(f"language-{code}")
        return tuple(prompts)

    # -- transitions ----------------------------------------------------------------
    def _prompts_finished(self, event: PromptsFinished, now: datetime) -> list[Command]:
        if event.playback != self._playback:
            return []
        if self.phase is Phase.NOTICE and self._direct is not None:
            return self._route(self._direct, now)
        if self.phase is Phase.ANNOUNCING:
            assert self.decision is not None
            self.phase = Phase.ROUTED
            return [RouteCall(self.decision)]
        if self.phase is Phase.PLAYING:
            self.phase = Phase.WAITING
            self._timer = self._next()
            return [StartTimer(self._timer, self._timeout())]
        return []

    def _key(self, key: str, now: datetime) -> list[Command]:
        if self.phase is Phase.PLAYING:
            stop: list[Command] = [StopPrompts(self._playback)]
        elif self.phase is Phase.WAITING:
            stop = [CancelTimer(self._timer)]
        else:
            return []  # keys during the notice or an announcement are ignored
        return stop + self._choose(key, now)

    def _choose(self, key: str, now: datetime) -> list[Command]:
        menu = self.menu
        if key == self._operator_key():
            return self._route(Request.front_desk(OPERATOR, chosen=self.category), now)
        language = self._language_for_key(key)
        if language is not None:
            self.language = language
            return [SetLanguage(language), self._replay(())]
        option = menu.options.get(key)
        if option is None:
            return self._retry((INVALID_OPTION,), now)
        category = option.category or self.category
        if option.menu is None:
            return self._route(_leaf_request(option, category), now)
        self.category = category
        skipped = self._known_specialty_option(option.menu)
        if skipped is not None:
            return self._route(_leaf_request(skipped, skipped.category or category), now)
        self.menu_path = (*self.menu_path, key)
        self.attempts = 0
        return [self._replay(())]

    def _retry(self, before: tuple[str, ...], now: datetime) -> list[Command]:
        self.attempts += 1
        if self.attempts > self._retries():
            return self._route(Request.front_desk(self.category or UNROUTED), now)
        return [self._replay(before)]

    def _route(self, request: Request, now: datetime) -> list[Command]:
        self.decision = decide(self.plan, self.clock, request, self.language, self.logged_in, now)
        if self.decision.prompts:
            self.phase = Phase.ANNOUNCING
            return [self._play(self.decision.prompts)]
        self.phase = Phase.ROUTED
        return [RouteCall(self.decision)]

    # -- helpers ----------------------------------------------------------------------
    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _play(self, prompts: Sequence[str]) -> PlayPrompts:
        self._playback = self._next()
        return PlayPrompts(self._playback, tuple(prompts))

    def _replay(self, before: tuple[str, ...]) -> PlayPrompts:
        self.phase = Phase.PLAYING
        return self._play(before + self.menu_prompts())

    def _language_for_key(self, key: str) -> str | None:
        if self.menu_path:
            return None  # the language key works in the main menu only
        for code, lang in self.plan.practice.languages.items():
            if lang.key == key:
                return code
        return None

    def _known_specialty_option(self, submenu: Menu) -> Option | None:
        specialty = self.facts.patient.specialty if self.facts.patient else None
        if submenu.skip_if_known != "specialty" or specialty is None:
            return None
        for option in submenu.options.values():
            if option.menu is None and option.skill == specialty:
                return option
        return None

    def _timeout(self) -> timedelta:
        return self.plan.timeout_at(self.menu_path)

    def _retries(self) -> int:
        return self.plan.retries_at(self.menu_path)

    def _operator_key(self) -> str:
        return self.plan.operator_key_at(self.menu_path)


def _initial_language(plan: Plan, patient: Patient | None) -> str:
    languages = plan.practice.languages
    if patient is not None and patient.language in languages:
        return patient.language
    return plan.practice.default_language


def _leaf_request(option: Option, category: str | None) -> Request:
    return Request(
        category=category or UNROUTED,
        queue=option.queue,
        skill=option.skill,
        urgent=option.urgent,
    )
