"""calls/executor.py: lanes, failures, timers and the holding bridges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest

from frontdesk.asterisk.ari import AriClient, AriConfig, AriError
from frontdesk.calls.commands import (
    Answer,
    ArmTimer,
    Command,
    ContinueInDialplan,
    DeleteBridge,
    DeleteRecording,
    DisarmTimer,
    EnterHolding,
    Hangup,
    LeaveBridge,
    MakeBridge,
    Originate,
    Play,
    Record,
    SendUserEvent,
    SetVariables,
    StopPlayback,
    Wait,
)
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.runtime import CallRuntime
from frontdesk.plan import load_plan
from tests.conftest import REFERENCE_PLAN

SHORT = timedelta(milliseconds=50)
PAST_SHORT = 0.12  # seconds: well after SHORT


def error(status: int) -> AriError:
    return AriError("POST", "/x", status, f"status {status}")


class FakeAri:
    """Records every request as (method, first argument, ...); `block` makes a request wait
    for an event, `fail` makes it raise (keyed by (method, first argument))."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.block: dict[tuple[str, str], asyncio.Event] = {}
        self.fail: dict[tuple[str, str], AriError] = {}

    async def _do(self, method: str, *args: Any) -> None:
        key = (method, str(args[0]))
        gate = self.block.get(key)
        if gate is not None:
            await gate.wait()
        self.calls.append((method, *args))
        exc = self.fail.get(key)
        if exc is not None:
            raise exc

    async def answer(self, channel: str) -> None:
        await self._do("answer", channel)

    async def play(self, channel: str, media: Any, playback_id: str, lang: Any = None) -> None:
        await self._do("play", channel, tuple(media), playback_id, lang)

    async def stop_playback(self, playback_id: str) -> None:
        await self._do("stop_playback", playback_id)

    async def hangup(self, channel: str) -> None:
        await self._do("hangup", channel)

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        await self._do("set_variable", channel, name, value)

    async def continue_in_dialplan(self, channel: str, *where: Any) -> None:
        await self._do("continue_in_dialplan", channel, *where)

    async def originate(self, endpoint: str, channel_id: str, **kw: Any) -> None:
        await self._do("originate", endpoint, channel_id, kw)

    async def record(self, channel: str, name: str, max_seconds: int) -> None:
        await self._do("record", channel, name, max_seconds)

    async def delete_recording(self, name: str) -> None:
        await self._do("delete_recording", name)

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        await self._do("create_bridge", bridge_id, kind)

    async def start_moh(self, bridge_id: str) -> None:
        await self._do("start_moh", bridge_id)

    async def add_channels(self, bridge_id: str, channels: Any) -> None:
        await self._do("add_channels", bridge_id, list(channels))

    async def remove_channels(self, bridge_id: str, channels: Any) -> None:
        await self._do("remove_channels", bridge_id, list(channels))

    async def delete_bridge(self, bridge_id: str) -> None:
        await self._do("delete_bridge", bridge_id)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class Run:
    """An executor over a `FakeAri`, with what it reported."""

    def __init__(self) -> None:
        self.ari = FakeAri()
        self.user_events: list[tuple[str, dict[str, str]]] = []
        self.executor = CommandExecutor(cast(AriClient, self.ari), user_event=self._user_event)
        self.timers: list[tuple[str, int]] = []
        self.failed: list[tuple[str, Command, AriError]] = []
        self.executor.on_timer = lambda lane, timer: self.timers.append((lane, timer))
        self.executor.on_failed = lambda lane, c, e: self.failed.append((lane, c, e))

    async def _user_event(self, name: str, fields: dict[str, str]) -> None:
        self.user_events.append((name, fields))

    async def run(self, lane: str, *commands: Command) -> None:
        self.executor.submit(lane, commands)
        await self.executor.settle()


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    r = Run()
    yield r
    await r.executor.close()


# -- each command becomes its request --------------------------------------------------------------
async def test_commands_become_requests(run: Run) -> None:
    await run.run(
        "c1",
        Answer("c1"),
        Play("c1", "pb1", ("sound:a", "sound:b"), "es"),
        StopPlayback("c1", "pb1"),
        SetVariables("c1", (("A", "1"), ("B", "2"))),
        Record("c1", "vm-1", 120),
        DeleteRecording("c1", "vm-1"),
        Originate("leg1", "PJSIP/2001", "agent,c1", "+13125551001", 15),
        MakeBridge("c1", "br1", ("c1", "", "leg1")),
        LeaveBridge("c1", "br1"),
        DeleteBridge("c1", "br1"),
        ContinueInDialplan("c1", "ctx", "s", 2),
        Hangup("c1"),
    )
    assert run.ari.calls == [
        ("answer", "c1"),
        ("play", "c1", ("sound:a", "sound:b"), "pb1", "es"),
        ("stop_playback", "pb1"),
        ("set_variable", "c1", "A", "1"),
        ("set_variable", "c1", "B", "2"),
        ("record", "c1", "vm-1", 120),
        ("delete_recording", "vm-1"),
        (
            "originate",
            "PJSIP/2001",
            "leg1",
            {"app_args": "agent,c1", "caller_id": "+13125551001", "timeout": 15},
        ),
        ("create_bridge", "br1", "mixing"),
        ("add_channels", "br1", ["c1", "leg1"]),  # the empty member left out
        ("remove_channels", "br1", ["c1"]),
        ("delete_bridge", "br1"),
        ("continue_in_dialplan", "c1", "ctx", "s", 2),
        ("hangup", "c1"),
    ]
    assert run.failed == []


async def test_send_user_event_calls_the_callable(run: Run) -> None:
    await run.run("c1", SendUserEvent("c1", "FrontdeskEscalation", (("queue", "billing"),)))
    assert run.user_events == [("FrontdeskEscalation", {"queue": "billing"})]
    assert run.ari.calls == []


async def test_send_user_event_without_a_callable_does_nothing() -> None:
    ari = FakeAri()
    executor = CommandExecutor(cast(AriClient, ari))
    executor.submit("c1", [SendUserEvent("c1", "X", ()), Answer("c1")])
    await executor.settle()
    assert ari.calls == [("answer", "c1")]


# -- lanes -----------------------------------------------------------------------------------------
async def test_one_lane_runs_in_order_even_when_the_first_is_slow(run: Run) -> None:
    gate = run.ari.block[("answer", "c1")] = asyncio.Event()
    run.executor.submit("c1", [Answer("c1"), Play("c1", "pb", ("sound:x",))])
    run.executor.submit("c1", [Hangup("c1")])
    await asyncio.sleep(0.02)
    assert run.ari.calls == []  # the play waits for the answer
    gate.set()
    await run.executor.settle()
    assert run.ari.names() == ["answer", "play", "hangup"]


async def test_two_lanes_do_not_block_each_other(run: Run) -> None:
    gate = run.ari.block[("answer", "c1")] = asyncio.Event()
    run.executor.submit("c1", [Answer("c1"), Hangup("c1")])
    run.executor.submit("c2", [Answer("c2"), Hangup("c2")])
    await asyncio.sleep(0.02)
    assert run.ari.calls == [("answer", "c2"), ("hangup", "c2")]
    gate.set()
    await run.executor.settle()
    assert run.ari.calls[2:] == [("answer", "c1"), ("hangup", "c1")]


async def test_a_lane_submitted_to_again_after_draining_runs_again(run: Run) -> None:
    await run.run("c1", Answer("c1"))
    await run.run("c1", Hangup("c1"))
    assert run.ari.names() == ["answer", "hangup"]


# -- failures --------------------------------------------------------------------------------------
async def test_gone_channel_is_skipped_for_the_rest_of_the_lane(run: Run) -> None:
    gone = run.ari.fail[("answer", "c1")] = error(404)
    play = Play("c1", "pb", ("sound:x",))
    await run.run("c1", Answer("c1"), play, Answer("leg1"), Hangup("c1"), Hangup("leg1"))
    assert run.ari.calls == [("answer", "c1"), ("answer", "leg1"), ("hangup", "leg1")]
    assert run.failed == [("c1", Answer("c1"), gone)]


async def test_a_prompt_that_ended_as_its_key_arrived_leaves_the_call_alone(run: Run) -> None:
    """DELETE /playbacks/{id} answers 404 when the prompt ended on its own just before:
    the playback is gone, not the channel; the menu's next prompt still plays."""
    done = run.ari.fail[("stop_playback", "pb-1")] = error(404)
    next_menu = Play("c1", "pb-2", ("sound:frontdesk/menu-2-1",))
    await run.run("c1", StopPlayback("c1", "pb-1"), next_menu)
    assert run.ari.names() == ["stop_playback", "play"]
    assert run.failed == [("c1", StopPlayback("c1", "pb-1"), done)]


async def test_gone_is_remembered_by_the_lane_only(run: Run) -> None:
    run.ari.fail[("answer", "c1")] = error(404)
    run.executor.submit("c1", [Answer("c1")])
    run.executor.submit("other", [Hangup("c1")])  # another call's lane knows nothing of it
    await run.executor.settle()
    assert ("hangup", "c1") in run.ari.calls


async def test_a_server_error_does_not_skip_later_commands(run: Run) -> None:
    failure = run.ari.fail[("answer", "c1")] = error(500)
    await run.run("c1", Answer("c1"), Play("c1", "pb", ("sound:x",)), Hangup("c1"))
    assert run.ari.names() == ["answer", "play", "hangup"]
    assert run.failed == [("c1", Answer("c1"), failure)]


async def test_on_failed_may_submit_more_commands(run: Run) -> None:
    run.ari.fail[("answer", "c1")] = error(500)
    run.executor.on_failed = lambda lane, c, e: run.executor.submit(lane, [Hangup("c1")])
    await run.run("c1", Answer("c1"))
    await run.executor.settle()
    assert run.ari.names() == ["answer", "hangup"]


async def test_a_crashing_request_does_not_stop_the_lane(run: Run) -> None:
    async def broken(channel: str) -> None:
        raise RuntimeError("bug")

    run.ari.answer = broken  # type: ignore[method-assign]
    await run.run("c1", Answer("c1"), Hangup("c1"))
    assert run.ari.names() == ["hangup"]
    assert run.failed == []


# -- timers ----------------------------------------------------------------------------------------
async def test_timer_fires_after_its_delay(run: Run) -> None:
    await run.run("c1", ArmTimer("c1", 3, SHORT))
    assert run.timers == []
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == [("c1", 3)]


async def test_disarm_timer_prevents_it(run: Run) -> None:
    await run.run("c1", ArmTimer("c1", 3, SHORT), ArmTimer("c1", 4, SHORT), DisarmTimer("c1", 3))
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == [("c1", 4)]


async def test_cancel_timers_prevents_the_lanes_timers_only(run: Run) -> None:
    run.executor.submit("c1", [ArmTimer("c1", 1, SHORT), ArmTimer("c1", 2, SHORT)])
    run.executor.submit("c2", [ArmTimer("c2", 1, SHORT)])
    await run.executor.settle()
    run.executor.cancel_timers("c1")
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == [("c2", 1)]


async def test_rearming_a_timer_replaces_it(run: Run) -> None:
    await run.run("c1", ArmTimer("c1", 1, SHORT), ArmTimer("c1", 1, SHORT * 4))
    await asyncio.sleep(PAST_SHORT)  # the first would have fired by now
    assert run.timers == []
    await asyncio.sleep(0.15)
    assert run.timers == [("c1", 1)]


async def test_timers_are_armed_and_disarmed_even_for_a_gone_channel(run: Run) -> None:
    run.ari.fail[("answer", "c1")] = error(404)
    await run.run("c1", Answer("c1"), ArmTimer("c1", 1, SHORT), ArmTimer("c1", 2, SHORT))
    await run.run("c1", DisarmTimer("c1", 2))
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == [("c1", 1)]


async def test_close_cancels_timers(run: Run) -> None:
    await run.run("c1", ArmTimer("c1", 1, SHORT))
    await run.executor.close()
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == []


# -- holding bridges -------------------------------------------------------------------------------
async def test_holding_bridge_is_made_once(run: Run) -> None:
    await run.run("c1", EnterHolding("c1", "hold-billing"))
    await run.run("c2", EnterHolding("c2", "hold-billing"))
    assert run.ari.calls == [
        ("create_bridge", "hold-billing", "holding"),
        ("start_moh", "hold-billing"),
        ("add_channels", "hold-billing", ["c1"]),
        ("add_channels", "hold-billing", ["c2"]),
    ]


async def test_holding_bridge_that_survived_a_restart(run: Run) -> None:
    run.ari.fail[("create_bridge", "hold-billing")] = error(409)
    await run.run("c1", EnterHolding("c1", "hold-billing"))
    assert run.ari.names() == ["create_bridge", "start_moh", "add_channels"]
    assert run.failed == []


async def test_holding_bridge_failing_otherwise_is_made_again_next_time(run: Run) -> None:
    failure = run.ari.fail[("create_bridge", "hold-billing")] = error(500)
    await run.run("c1", EnterHolding("c1", "hold-billing"))
    assert run.ari.names() == ["create_bridge"]
    assert run.failed == [("c1", EnterHolding("c1", "hold-billing"), failure)]
    del run.ari.fail[("create_bridge", "hold-billing")]
    await run.run("c2", EnterHolding("c2", "hold-billing"))
    assert run.ari.names()[1:] == ["create_bridge", "start_moh", "add_channels"]


async def test_a_caller_already_in_the_holding_bridge_is_fine(run: Run) -> None:
    run.ari.fail[("add_channels", "hold-billing")] = error(422)
    await run.run("c1", EnterHolding("c1", "hold-billing"), Answer("c1"))
    assert run.failed == []
    assert run.ari.names()[-1] == "answer"


async def test_reconnected_makes_holding_bridges_again(run: Run) -> None:
    await run.run("c1", EnterHolding("c1", "hold-billing"))
    run.executor.reconnected()
    await run.run("c2", EnterHolding("c2", "hold-billing"))
    assert run.ari.names() == [
        "create_bridge",
        "start_moh",
        "add_channels",
        "create_bridge",
        "start_moh",
        "add_channels",
    ]


# -- settle and close ------------------------------------------------------------------------------
async def test_settle_waits_for_requests_in_flight(run: Run) -> None:
    gate = run.ari.block[("answer", "c1")] = asyncio.Event()
    run.executor.submit("c1", [Answer("c1")])
    asyncio.get_running_loop().call_later(0.02, gate.set)
    await run.executor.settle(timeout=1.0)
    assert run.ari.calls == [("answer", "c1")]


async def test_settle_gives_up_after_its_timeout(run: Run) -> None:
    run.ari.block[("answer", "c1")] = asyncio.Event()  # never set
    run.executor.submit("c1", [Answer("c1")])
    await asyncio.wait_for(run.executor.settle(timeout=0.02), timeout=1.0)
    assert run.ari.calls == []


async def test_settle_with_nothing_to_do_returns(run: Run) -> None:
    await asyncio.wait_for(run.executor.settle(), timeout=0.5)


async def test_close_cancels_requests_in_flight(run: Run) -> None:
    run.ari.block[("answer", "c1")] = asyncio.Event()  # never set
    run.executor.submit("c1", [Answer("c1"), Hangup("c1")])
    await asyncio.sleep(0)
    await asyncio.wait_for(run.executor.close(), timeout=1.0)
    assert run.ari.calls == []


# -- bugs found while writing these, fixed ---------------------------------------------------------------------
async def test_wait_holds_back_what_follows(run: Run) -> None:
    run.executor.submit("c1", [Wait("c1", 0.1), Hangup("c1")])
    await asyncio.sleep(0.02)
    assert run.ari.calls == []
    await run.executor.settle()
    assert run.ari.calls == [("hangup", "c1")]


async def test_a_crashing_on_failed_does_not_stop_the_lane(run: Run) -> None:
    def crash(lane: str, command: Command, exc: AriError) -> None:
        raise RuntimeError("bug in an owner's request_failed")

    run.executor.on_failed = crash
    run.ari.fail[("answer", "c1")] = error(500)
    await run.run("c1", Answer("c1"), Play("c1", "pb", ("sound:x",)))
    await run.run("c1", Hangup("c1"))
    assert run.ari.names() == ["answer", "play", "hangup"]


async def test_cancel_timers_also_stops_a_timer_still_queued(run: Run) -> None:
    gate = run.ari.block[("answer", "c1")] = asyncio.Event()
    run.executor.submit("c1", [Answer("c1"), ArmTimer("c1", 1, SHORT)])
    await asyncio.sleep(0)
    run.executor.cancel_timers("c1")
    gate.set()
    await run.executor.settle()
    await asyncio.sleep(PAST_SHORT)
    assert run.timers == []


# -- fencing: the daemon's lease is asked before every command ---------------------------------
async def test_a_lapsed_lease_fences_the_executor_for_good(run: Run) -> None:
    holds = [True]
    fenced: list[str] = []
    run.executor.may_command = lambda: holds[0]
    run.executor.on_fenced = fenced.append
    await run.run("c1", Answer("c1"))
    holds[0] = False
    await run.run("c1", Play("c1", "pb1", ("sound:a",), None), Hangup("c1"))
    await run.run("c2", SendUserEvent("c2", "FrontdeskEscalation", (("queue", "q"),)))
    holds[0] = True  # too late: a turn once lost is not taken back here
    await run.run("c3", Answer("c3"))
    assert run.ari.calls == [("answer", "c1")]
    assert run.user_events == []
    assert fenced == ["lease lapsed"]
    assert run.executor.fenced == "lease lapsed"
    assert run.executor.refused == 4
    assert not run.executor.commanding()


async def test_fence_refuses_what_is_queued_and_tells_the_daemon_once(run: Run) -> None:
    fenced: list[str] = []
    run.executor.on_fenced = fenced.append
    gate = run.ari.block[("answer", "c1")] = asyncio.Event()
    run.executor.submit("c1", [Answer("c1"), Hangup("c1")])
    await asyncio.sleep(0.01)  # the answer is in flight: it was sent under the lease
    run.executor.fence("the app was taken over")
    run.executor.fence("again")
    gate.set()
    await run.executor.settle()
    assert run.ari.calls == [("answer", "c1")]  # the hangup never went
    assert fenced == ["the app was taken over"]


async def test_application_replaced_fences_the_runtime_at_once() -> None:
    """Another events socket took the app: the dispatcher fences the executor, so this
    daemon sends nothing more even before its lease has lapsed."""
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "frontdesk", "x"))
    runtime = CallRuntime(load_plan(REFERENCE_PLAN), ari, acd=False)
    told: list[str] = []
    runtime.executor.on_fenced = told.append
    try:
        runtime.dispatcher.dispatch({"type": "ApplicationReplaced", "application": "frontdesk"})
        assert told == ["the app was taken over by another events socket"]
        assert not runtime.executor.commanding()
    finally:
        await runtime.close()
        await ari.close()
