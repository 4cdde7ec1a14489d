"""The IVR state machine at the level of events and commands (what the daemon will see)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from frontdesk.plan import Plan, load_plan_text
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Patient
from frontdesk.routing.ivr import (
    CallFacts,
    CancelTimer,
    HungUp,
    Ivr,
    KeyPressed,
    Phase,
    PlayPrompts,
    PromptsFinished,
    RouteCall,
    SetLanguage,
    StartTimer,
    StopPrompts,
    TimerElapsed,
)
from tests.conftest import local, reference_text

NOW = local("2026-11-30 10:00")
EVERYONE = frozenset({"2001", "2002", "2003", "2004", "2005", "2006"})


def machine(plan: Plan, did: str | None = "+13125550000", patient: Patient | None = None) -> Ivr:
    return Ivr(plan, PracticeClock(plan), CallFacts(did, None, patient), EVERYONE)


def played(commands: list[object]) -> PlayPrompts:
    plays = [c for c in commands if isinstance(c, PlayPrompts)]
    assert len(plays) == 1, commands
    return plays[0]


def timer(commands: list[object]) -> StartTimer:
    starts = [c for c in commands if isinstance(c, StartTimer)]
    assert len(starts) == 1, commands
    return starts[0]


def test_start_sets_language_and_plays_notice_with_menu(plan: Plan) -> None:
    ivr = machine(plan)
    commands = ivr.start(NOW)
    assert commands[0] == SetLanguage("en")
    assert played(commands).prompts[:2] == ("emergency-notice", "menu-1")
    assert ivr.phase is Phase.PLAYING


def test_timer_starts_after_the_prompts_with_the_menu_timeout(plan: Plan) -> None:
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    start = timer(ivr.handle(PromptsFinished(play.playback), NOW))
    assert start.delay == timedelta(seconds=5)
    assert ivr.phase is Phase.WAITING


def test_key_while_playing_barges_in(plan: Plan) -> None:
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    commands = ivr.handle(KeyPressed("2"), NOW)
    assert commands[0] == StopPrompts(play.playback)
    assert isinstance(commands[-1], RouteCall)
    assert ivr.phase is Phase.ROUTED


def test_key_while_waiting_cancels_the_timer(plan: Plan) -> None:
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    start = timer(ivr.handle(PromptsFinished(play.playback), NOW))
    commands = ivr.handle(KeyPressed("3"), NOW)
    assert commands[0] == CancelTimer(start.timer)
    assert played(commands).prompts == ("menu-3-1", "menu-3-2", "menu-operator")


def test_late_prompts_finished_from_a_stopped_playback_is_ignored(plan: Plan) -> None:
    ivr = machine(plan)
    first = played(ivr.start(NOW))
    ivr.handle(KeyPressed("3"), NOW)  # barge in: the submenu starts playing
    assert ivr.handle(PromptsFinished(first.playback), NOW) == []
    assert ivr.phase is Phase.PLAYING


def test_stale_timer_is_ignored(plan: Plan) -> None:
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    old = timer(ivr.handle(PromptsFinished(play.playback), NOW))
    ivr.handle(KeyPressed("3"), NOW)
    assert ivr.handle(TimerElapsed(old.timer), NOW) == []


def test_timeout_replays_then_routes_to_front_desk(plan: Plan) -> None:
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    for _ in range(2):
        start = timer(ivr.handle(PromptsFinished(play.playback), NOW))
        play = played(ivr.handle(TimerElapsed(start.timer), NOW))
        assert play.prompts[0] == "menu-1"
    start = timer(ivr.handle(PromptsFinished(play.playback), NOW))
    (route,) = ivr.handle(TimerElapsed(start.timer), NOW)
    assert isinstance(route, RouteCall)
    assert route.decision.request.category == "unrouted"


def test_nothing_happens_after_the_route(plan: Plan) -> None:
    ivr = machine(plan)
    ivr.start(NOW)
    ivr.handle(KeyPressed("2"), NOW)
    assert ivr.handle(KeyPressed("1"), NOW) == []
    assert ivr.handle(PromptsFinished(1), NOW) == []


def test_hangup_ends_the_machine_without_a_route(plan: Plan) -> None:
    ivr = machine(plan)
    ivr.start(NOW)
    assert ivr.handle(HungUp(), NOW) == []
    assert ivr.phase is Phase.HUNG_UP
    assert ivr.handle(KeyPressed("2"), NOW) == []
    assert ivr.decision is None


def test_language_switch_emits_set_language_and_drops_the_offer(plan: Plan) -> None:
    ivr = machine(plan)
    ivr.start(NOW)
    commands = ivr.handle(KeyPressed("9"), NOW)
    assert SetLanguage("es") in commands
    assert "language-es" not in played(commands).prompts
    assert ivr.language == "es"


def test_direct_entry_plays_the_notice_then_routes(plan: Plan) -> None:
    ivr = machine(plan, did="+13125550010")
    commands = ivr.start(NOW)
    play = played(commands)
    assert play.prompts == ("emergency-notice",)
    assert ivr.handle(KeyPressed("5"), NOW) == []  # keys during the notice are ignored
    (route,) = ivr.handle(PromptsFinished(play.playback), NOW)
    assert isinstance(route, RouteCall)
    assert route.decision.request.category == "refill"


def test_without_emergency_notice_a_direct_entry_routes_at_once() -> None:
    plan = load_plan_text(
        reference_text().replace("emergency_notice: true", "emergency_notice: false")
    )
    ivr = machine(plan, did="+13125550010")
    commands = ivr.start(NOW)
    assert isinstance(commands[-1], RouteCall)


def test_announcement_plays_before_the_route(plan: Plan) -> None:
    evening = local("2026-11-30 20:00")
    ivr = machine(plan)
    ivr.start(evening)
    ivr.handle(KeyPressed("3"), evening)
    commands = ivr.handle(KeyPressed("1"), evening)
    play = played(commands)
    assert play.prompts == ("urgent-connect",)
    assert ivr.phase is Phase.ANNOUNCING
    assert ivr.handle(KeyPressed("1"), evening) == []  # the announcement is not a menu
    (route,) = ivr.handle(PromptsFinished(play.playback), evening)
    assert isinstance(route, RouteCall)
    assert route.decision.destination.as_json()["target"] == "urgent_nurse_line"


def test_submenu_timeout_and_retries_can_be_overridden() -> None:
    text = reference_text().replace(
        "        skip_if_known: specialty",
        "        skip_if_known: specialty\n        timeout: 8s\n        retries: 0",
    )
    plan = load_plan_text(text)
    ivr = machine(plan)
    play = played(ivr.start(NOW))
    play = played(ivr.handle(KeyPressed("1"), NOW))
    start = timer(ivr.handle(PromptsFinished(play.playback), NOW))
    assert start.delay == timedelta(seconds=8)
    (route,) = ivr.handle(TimerElapsed(start.timer), NOW)
    assert isinstance(route, RouteCall)
    assert route.decision.request.category == "scheduling"


@pytest.mark.parametrize("key", ["*", "#", "5"])
def test_invalid_key_plays_the_invalid_prompt_before_the_menu(plan: Plan, key: str) -> None:
    ivr = machine(plan)
    ivr.start(NOW)
    play = played(ivr.handle(KeyPressed(key), NOW))
    assert play.prompts[:2] == ("invalid-option", "menu-1")
    assert ivr.attempts == 1
