"""DTMF floods: 1,000 keys in a tight loop, junk digits, a 10,000-digit entry.

The session stays consistent (a bounded number of commands per key, routed at most
once, nothing after the route), and over the emulator a flooded call leaves a
concurrent call routing normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from frontdesk.calls.session import CallSession, Routed
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.ivr import CallFacts
from tests.conftest import local
from tests.test_live_calls import Line, open_line

NOW = local("2026-11-30 10:00")
KEYS = [*"0123456789*#", "AB", "", "\x00", "11", "\u0661", " 1", None, 5]


def session(plan: Plan) -> CallSession:
    facts = CallFacts("+13125550000", "+17735550123")
    everyone = {s.extension for s in plan.staff}
    return CallSession(plan, PracticeClock(plan), "flood-1", facts, everyone)


def dtmf(digit: object) -> dict[str, object]:
    return {"type": "ChannelDtmfReceived", "digit": digit, "channel": {"id": "flood-1"}}


@pytest.mark.parametrize("seed", range(5))
def test_a_flood_of_1000_keys_routes_at_most_once(plan: Plan, seed: int) -> None:
    rng = random.Random(seed)
    call = session(plan)
    out = call.start(NOW)
    routed = 0
    for _ in range(1000):
        commands = call.on_event(dtmf(rng.choice(KEYS)), NOW)
        assert len(commands) <= 6
        if rng.random() < 0.3 and call.current_playback is not None:  # some prompts finish
            finished = {"type": "PlaybackFinished", "playback": {"id": call.current_playback}}
            commands += call.on_event(finished, NOW)
        routed += sum(isinstance(c, Routed) for c in commands)
        if call.ended:
            assert call.on_event(dtmf("1"), NOW) == []
        out += commands
    assert routed <= 1
    assert call.ended == (routed == 1)


@pytest.mark.parametrize("entry", ["1" * 10_000, "#" * 10_000, "0123456789*#" * 834])
def test_a_10000_digit_entry_is_ignored(plan: Plan, entry: str) -> None:
    call = session(plan)
    call.start(NOW)
    assert call.on_event(dtmf(entry), NOW) == []
    assert not call.ended
    assert call.ivr.menu_path == ()


def test_10000_keys_one_by_one_stay_bounded(plan: Plan) -> None:
    call = session(plan)
    call.start(NOW)
    total = 0
    for digit in "9" * 10_000:  # the language key, again and again
        commands = call.on_event(dtmf(digit), NOW)
        assert len(commands) <= 6
        total += len(commands)
    assert total <= 6 * 10_000
    assert len(call._playbacks) <= 1


async def press_until_gone(line: Line, channel: str, digits: str) -> None:
    """Keys with no gap; the first `1` routes the call back to the dialplan, which may end
    it while the caller is still pressing (the emulator then refuses the next key)."""
    with contextlib.suppress(KeyError):
        await line.pbx.press(channel, digits, gap=0)


async def test_a_flooded_call_does_not_hold_up_another(plan: Plan) -> None:
    async with open_line(plan) as line:
        flooded = await line.call(caller="+17735550100")
        other = await line.call(caller="+13125551003")
        await line.wait_menu_played(other, "emergency-notice")
        flood = asyncio.create_task(press_until_gone(line, flooded, "1" * 500))
        await line.wait_menu_played(other, "menu-operator")
        await line.pbx.press(other, "2")
        routed = await line.route_of(other)
        assert routed.decision.destination.as_json()["queue"] == "billing"
        await flood
        await line.wait_for(lambda: any(r.call == flooded for r in line.routed))
        assert sum(r.call == flooded for r in line.routed) == 1
        assert sum(r.call == other for r in line.routed) == 1
