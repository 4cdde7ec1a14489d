"""The call runtime when frontdesk stops (SIGTERM) and when calls vanish unseen (an Asterisk
restart): over real sockets through the emulated Asterisk, the runtime and the ACD."""

from __future__ import annotations

import asyncio

from frontdesk.acd.model import AgentPause
from frontdesk.asterisk.ari import AriClient, AriConfig, Connected
from frontdesk.calls.recorder import CallRecorder
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.conftest import local
from tests.test_acd_calls import PASSWORD, FastClock, Practice, open_practice
from tests.test_acd_calls import pbx as pbx
from tests.test_call_records import Rows


async def _handed_back(pbx: Emulator, channel: str) -> bool:
    snap = await pbx.channel(channel)
    return snap["continued_to"] is not None and "FRONTDESK_ROUTE" not in snap["variables"]


async def _wait(practice: Practice, pbx: Emulator, channel: str) -> None:
    deadline = asyncio.get_running_loop().time() + 8
    while not await _handed_back(pbx, channel):
        assert asyncio.get_running_loop().time() < deadline, f"{channel} not handed back"
        await asyncio.sleep(0.01)


async def _menu_caller(practice: Practice, pbx: Emulator) -> str:
    channel = await pbx.place_call(caller="+17735550111", did="+13125550000")
    await practice.wait_for(lambda: channel in practice.runtime.sessions)
    await practice.wait_for(lambda: practice.runtime.sessions[channel].ivr.phase.name == "WAITING")
    return channel


async def test_after_stop_new_calls_and_menu_callers_go_to_the_dialplan_fallback(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))  # billing callers wait
        waiting = await practice.call("2")
        in_menu = await _menu_caller(practice, pbx)
        practice.runtime.stop_taking_calls()
        late = await pbx.place_call(caller="+17735550112", did="+13125550000")
        await _wait(practice, pbx, in_menu)
        await _wait(practice, pbx, late)
        assert late not in practice.runtime.sessions  # never started a menu
        await practice.runtime.settle()
        assert in_menu not in practice.runtime.sessions
        snap = await pbx.channel(waiting)  # the queued caller stays for the next start
        assert snap["in_stasis"]
        assert snap["continued_to"] is None
        assert waiting in practice.queues.calls


async def test_calls_that_reached_the_app_as_its_socket_closed_are_handed_back(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx) as practice:
        practice.runtime.stop_taking_calls()
        practice.task.cancel()  # our events socket is closed ...
        await asyncio.gather(practice.task, return_exceptions=True)
        # ... but a StasisStart was already on its way: another socket takes it, unread.
        other = AriClient(AriConfig(pbx.ari_url, "frontdesk", PASSWORD))
        events = other.events()
        assert isinstance(await anext(events), Connected)
        unseen = await pbx.place_call(caller="+17735550113", did="+13125550000")
        assert (await anext(events)).get("type") == "StasisStart"
        await practice.runtime.hand_back_unseen()
        await _wait(practice, pbx, unseen)
        await events.aclose()
        await other.close()


async def test_calls_gone_at_a_resync_are_recorded_as_interrupted(
    plan: Plan, pbx: Emulator
) -> None:
    clock = FastClock(local("2026-11-30 10:00"))
    async with open_practice(plan, pbx, logged_in=["2003"], clock=clock) as practice:
        rows = Rows()
        recorder = CallRecorder(rows, clock)
        practice.runtime.hub.add_listener(recorder.on_hub)
        practice.queues.feed(AgentPause("2003"))
        waiting = await practice.call("2")
        in_menu = await _menu_caller(practice, pbx)
        practice.task.cancel()  # out of touch with Asterisk ...
        await asyncio.gather(practice.task, return_exceptions=True)
        for channel in (waiting, in_menu):  # ... while the calls end (nothing is replayed)
            await pbx.hangup(channel)
        await practice.runtime.resync()
        for channel in (waiting, in_menu):
            row = rows.row(channel)
            assert row["outcome"] == "interrupted"
            assert row["ended_at"] is not None
            assert "abandoned" not in row
        assert waiting not in practice.queues.calls
        assert practice.queues.engine.snapshot(clock()).queue("billing").callers == ()
        await practice.runtime.settle()
        assert in_menu not in practice.runtime.sessions
