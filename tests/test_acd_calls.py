"""End to end: frontdesk's ACD over the emulated Asterisk (real sockets, a fast practice clock).

Practice time runs `SPEED` times faster than real time (the emulator scales its timeouts
to match), so a 15 s ring timeout or an 8 min escalation take a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from frontdesk.acd.model import AgentPause, AgentUnpause
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.events import CallRouted, EscalationRaised, HubEvent, VoicemailLeft
from frontdesk.calls.runtime import CallRuntime
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from frontdesk.prompts import build_inventory
from frontdesk.routing.directory import Directory
from tests.conftest import REFERENCE_DIRECTORY, local

SPEED = 60.0
STAFF = ["2001", "2002", "2003", "2004", "2005", "2006"]
PASSWORD = "test-only-secret"


class FastClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.t0) * SPEED)


@dataclass
class Practice:
    pbx: Emulator
    runtime: CallRuntime
    queues: AcdRuntime
    facts: asyncio.Queue[HubEvent]  # everything published on the hub, in order
    routed: list[CallRouted]
    ari: AriClient
    task: asyncio.Task[None]
    seen: list[HubEvent]  # the same facts, kept

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.01)

    async def call(self, keys: str, caller: str = "+17735550123") -> str:
        """A caller who listens to each menu, then presses the next key."""
        channel = await self.pbx.place_call(caller=caller, did="+13125550000")
        for key in keys.split(","):
            await self.wait_for(lambda: _menu_waiting(self.runtime, channel))
            await self.pbx.press(channel, key)
        await self.wait_for(lambda: channel in self.queues.calls or _routed(self, channel))
        return channel

    def agent_of(self, channel: str) -> str | None:
        view = self.queues.engine.snapshot(self.queues.now()).caller(channel)
        return view.agent if view is not None else None


def _menu_waiting(runtime: CallRuntime, channel: str) -> bool:
    session = runtime.sessions.get(channel)
    return session is not None and session.ivr.phase.name == "WAITING"


def _routed(practice: Practice, channel: str) -> bool:
    return any(r.call == channel for r in practice.routed)


@contextlib.asynccontextmanager
async def open_practice(
    plan: Plan,
    pbx: Emulator,
    *,
    logged_in: list[str] | None = None,
    clock: FastClock | None = None,
    before_start: Callable[[AcdRuntime], None] | None = None,
) -> AsyncIterator[Practice]:
    clock = clock or FastClock(local("2026-11-30 10:00"))
    ari = AriClient(AriConfig(pbx.ari_url, "frontdesk", PASSWORD, backoff_initial=0.05))
    runtime = CallRuntime(
        plan, ari, directory=Directory.from_csv(REFERENCE_DIRECTORY), now=clock, speed=SPEED
    )
    queues = runtime.acd
    assert queues is not None
    facts: asyncio.Queue[HubEvent] = asyncio.Queue()
    routed: list[CallRouted] = []
    seen: list[HubEvent] = []
    runtime.hub.add_listener(facts.put_nowait)
    runtime.hub.add_listener(seen.append)
    runtime.hub.add_listener(lambda e: routed.append(e) if isinstance(e, CallRouted) else None)
    queues.agents.login_everyone(STAFF if logged_in is None else logged_in)
    if before_start is not None:  # what the daemon does before it takes calls
        before_start(queues)
    task = asyncio.create_task(runtime.run())
    practice = Practice(pbx, runtime, queues, facts, routed, ari, task, seen)
    try:
        await practice.wait_for(lambda: runtime.resyncs >= 1)
        yield practice
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()
        await ari.close()


async def next_fact(practice: Practice, kind: type[Any], timeout: float = 15) -> Any:
    """The next fact of this type published on the hub."""
    while not isinstance(fact := await asyncio.wait_for(practice.facts.get(), timeout), kind):
        pass
    return fact


def rendered_prompts(plan: Plan) -> set[str]:
    """The sound files `frontdesk prompts` makes for the plan, as Asterisk names them."""
    return {f"{p.language}/frontdesk/{p.name}" for p in build_inventory(plan).prompts}


@pytest.fixture
async def pbx(plan: Plan) -> AsyncIterator[Emulator]:
    emulator = Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.01,
        answer_after=0.05,
        time_scale=1 / SPEED,
        sounds=rendered_prompts(plan),  # any other sound:frontdesk/... fails to play
    )
    await emulator.start()
    yield emulator
    await emulator.stop()
    assert emulator.violations == []
    failed = {m for ch in emulator.pbx.history.values() for m in ch.failed_media}
    assert not failed, f"played but never rendered: {sorted(failed)}"


async def test_cardiology_caller_reaches_the_best_cardiology_agent(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx) as practice:
        channel = await practice.call("1,3")  # scheduling > cardiology, unknown English caller
        await practice.wait_for(lambda: practice.queues.calls.get(channel) is not None)
        queued = practice.queues.calls[channel]
        await practice.wait_for(lambda: practice.queues.state(channel) == "talking")
        assert queued.agent_ext == "2001"  # Ana: cardiology 3 beats Fay's 2
        await practice.wait_for(
            lambda: pbx.pbx.history[channel].bridge_id == f"frontdesk-c-{channel}"
        )
        agent_leg = queued.agent_leg
        assert agent_leg is not None
        agent = await pbx.channel(agent_leg)
        assert agent["caller"]["number"] == "+17735550123"  # the patient's caller ID on the phone
        await pbx.agent_hangup(agent_leg)
        await practice.wait_for(lambda: channel not in practice.queues.calls)
        await practice.wait_for(lambda: _hung_up(pbx, channel))


def _hung_up(pbx: Emulator, channel: str) -> bool:
    return bool(pbx.pbx.history[channel].destroyed)


async def test_ring_no_answer_pauses_the_agent_and_the_caller_keeps_their_place(
    plan: Plan, pbx: Emulator
) -> None:
    await pbx.set_phone("2001", answer_after=None)  # Ana never picks up
    async with open_practice(plan, pbx) as practice:
        channel = await practice.call("1,3")
        await practice.wait_for(
            lambda: practice.queues.calls[channel].agent_ext == "2006", timeout=10
        )
        snapshot = practice.queues.engine.snapshot(practice.queues.now())
        assert snapshot.agent("2001").state == "paused"
        await practice.wait_for(lambda: practice.queues.state(channel) == "talking")


async def test_caller_hanging_up_while_waiting_is_an_abandon(plan: Plan, pbx: Emulator) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        await pbx.set_phone("2003", answer_after=None)
        channel = await practice.call("2")  # billing: only Chloe
        await practice.wait_for(lambda: practice.agent_of(channel) == "2003")
        await pbx.hangup(channel)
        await practice.wait_for(lambda: channel not in practice.queues.calls)
        snapshot = practice.queues.engine.snapshot(practice.queues.now())
        assert snapshot.queue("billing").callers == ()
        await practice.wait_for(
            lambda: (
                practice.queues.engine.snapshot(practice.queues.now()).agent("2003").state == "idle"
            )
        )


async def test_escalation_alerts_the_charge_nurse(plan: Plan, pbx: Emulator) -> None:
    await pbx.set_phone("2004", answer_after=None)
    await pbx.set_phone("2005", answer_after=None)
    async with open_practice(plan, pbx) as practice:
        await practice.call("3,2")  # clinical question -> nurse_triage, escalate_after 8m
        alert = await next_fact(practice, EscalationRaised)
        assert alert.queue == "nurse_triage"
        assert alert.recipients == ("2004",)  # Dana, the charge nurse
        assert alert.waited_s >= 480


async def test_restart_readopts_waiting_callers_in_order(plan: Plan, pbx: Emulator) -> None:
    """A daemon that dies (kill -9: nothing is said to Asterisk) loses no caller."""
    clock = FastClock(local("2026-11-30 10:00"))
    async with open_practice(plan, pbx, logged_in=["2001", "2003"], clock=clock) as first:
        first.queues.feed(AgentPause("2003"))  # billing callers wait
        talking = await first.call("1,3", caller="+13125550999")  # Ana takes this one
        await first.wait_for(lambda: first.queues.state(talking) == "talking")
        await first.wait_for(lambda: "FRONTDESK_STATE" in pbx.pbx.history[talking].variables)
        await first.wait_for(
            lambda: '"a":' in pbx.pbx.history[talking].variables["FRONTDESK_STATE"]
        )
        channels = [await first.call("2", caller=f"+1773555{n:04d}") for n in range(20)]
        billing = first.queues.engine.snapshot(clock()).queue("billing").callers
        before = [c.call_id for c in billing]
        waits = {c.call_id: c.enqueued_at for c in billing}
        agent_leg = first.queues.calls[talking].agent_leg
    assert before == channels
    async with open_practice(plan, pbx, logged_in=["2001", "2003"], clock=clock) as second:
        second.queues.feed(AgentPause("2003"))
        await second.wait_for(lambda: len(second.queues.calls) == 21)
        after = second.queues.engine.snapshot(clock()).queue("billing").callers
        assert [c.call_id for c in after] == before
        assert {c.call_id: c.enqueued_at for c in after} == waits
        # The conversation is still ours: when Ana hangs up, the patient's leg ends too.
        assert second.queues.state(talking) == "talking"
        assert agent_leg is not None
        await pbx.agent_hangup(agent_leg)
        await second.wait_for(lambda: _hung_up(pbx, talking))
        await second.wait_for(
            lambda: second.queues.engine.snapshot(clock()).agent("2001").state == "idle"
        )


async def test_feature_code_logs_an_agent_in(plan: Plan, pbx: Emulator) -> None:
    async with open_practice(plan, pbx, logged_in=[]) as practice:
        assert "2002" not in practice.queues.logged_in
        # What `*45` on Ben's phone does: Stasis(frontdesk,feature,login) with his number.
        await practice.ari.originate(
            "PJSIP/2002", "feature-1", app_args="feature,login", caller_id="2002"
        )
        await practice.wait_for(lambda: "2002" in practice.queues.logged_in)
        await practice.wait_for(lambda: _hung_up(pbx, "feature-1"))


async def test_overflow_callback_keeps_the_place_and_calls_the_agent_first(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))  # Chloe is busy: billing callers wait
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(
            lambda: "sound:frontdesk/callback-offer" in pbx.pbx.history[channel].media, timeout=10
        )  # billing's max_wait is 5 min
        await pbx.press(channel, "1")
        await practice.wait_for(lambda: _hung_up(pbx, channel))
        assert "sound:frontdesk/callback-confirmed" in pbx.pbx.history[channel].media
        view = practice.queues.engine.snapshot(practice.queues.now()).caller(channel)
        assert view is not None
        assert view.status == "callback"

        practice.queues.feed(AgentUnpause("2003"))
        queued = practice.queues.calls[channel]
        await practice.wait_for(lambda: practice.queues.state(channel) == "talking", timeout=10)
        agent_leg, patient_leg = queued.agent_leg, queued.patient_leg
        assert agent_leg is not None
        assert patient_leg is not None
        assert "sound:frontdesk/callback-billing" in pbx.pbx.history[agent_leg].media  # whisper
        bridge = f"frontdesk-c-{channel}"
        await practice.wait_for(
            lambda: (
                pbx.pbx.history[agent_leg].bridge_id == bridge
                and pbx.pbx.history[patient_leg].bridge_id == bridge
            )
        )
        assert pbx.pbx.history[patient_leg].dialstring.endswith("+13125551001@trunk")


async def test_withheld_caller_is_never_offered_a_callback(plan: Plan, pbx: Emulator) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))
        channel = await practice.call("2", caller="anonymous")
        await asyncio.sleep(6 * 60 / SPEED)  # past billing's 5 min max_wait
        assert "sound:frontdesk/callback-offer" not in pbx.pbx.history[channel].media
        assert channel in practice.queues.calls


async def test_after_hours_voicemail_is_recorded_with_a_callback_task(
    plan: Plan, pbx: Emulator
) -> None:
    clock = FastClock(local("2026-11-30 20:00"))  # Monday evening: billing is closed
    async with open_practice(plan, pbx, clock=clock) as practice:
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(lambda: f"frontdesk/billing/{channel}" in pbx.pbx.live)
        await pbx.press(channel, "#")  # the caller ends the message
        alert = await next_fact(practice, VoicemailLeft, timeout=5)
        assert alert.box == "billing"
        assert alert.recording == f"frontdesk/billing/{channel}"
        assert alert.callback_due == "2026-12-01T16:00:00-06:00"  # end of Tuesday's billing
        await practice.wait_for(lambda: _hung_up(pbx, channel))
        assert "sound:frontdesk/voicemail-billing" in pbx.pbx.history[channel].media


async def test_after_hours_urgent_call_is_bridged_to_the_nurse_line(
    plan: Plan, pbx: Emulator
) -> None:
    clock = FastClock(local("2026-11-30 20:00"))
    async with open_practice(plan, pbx, clock=clock) as practice:
        channel = await practice.call("3,1", caller="+13125551001")
        bridge = f"frontdesk-x-{channel}"
        await practice.wait_for(lambda: pbx.pbx.history[channel].bridge_id == bridge)
        leg = f"{channel}-xfer"
        assert pbx.pbx.history[leg].bridge_id == bridge
        assert pbx.pbx.history[leg].dialstring.endswith("+13125550199@trunk")
        assert "sound:frontdesk/urgent-connect" in pbx.pbx.history[channel].media
        await pbx.agent_hangup(leg)  # the nurse line hangs up
        await practice.wait_for(lambda: _hung_up(pbx, channel))


async def test_skill_relaxes_after_a_minute(plan: Plan, pbx: Emulator) -> None:
    # Ana and Fay (cardiology) are away; Ben (no cardiology) may take the call after 60 s.
    async with open_practice(plan, pbx, logged_in=["2002"]) as practice:
        channel = await practice.call("1,3")
        queued = practice.queues.calls[channel]
        assert practice.agent_of(channel) is None  # Ben lacks cardiology: not at first
        await practice.wait_for(lambda: queued.agent_ext == "2002", timeout=5)
        waited = (
            practice.queues.now()
            - practice.queues.engine.snapshot(practice.queues.now())
            .queue("scheduling")
            .callers[0]
            .enqueued_at
        )
        assert waited >= timedelta(seconds=60)


async def test_waiting_callers_hear_their_position_every_minute(plan: Plan, pbx: Emulator) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))
        first = await practice.call("2")
        second = await practice.call("2", caller="+17735550124")
        await practice.wait_for(lambda: "number:1" in pbx.pbx.history[second].media, timeout=5)
        media = pbx.pbx.history[second].media
        assert media[media.index("number:1") - 1] == "sound:queue-thereare"  # one caller ahead
        assert "sound:queue-youarenext" in pbx.pbx.history[first].media


@pytest.mark.parametrize(("reply", "shown"), [(486, "busy"), (603, "busy")])
async def test_busy_or_declining_phone_is_not_paused_and_the_next_agent_is_rung(
    plan: Plan, pbx: Emulator, reply: int, shown: str
) -> None:
    await pbx.set_phone("2001", answer_after=0.05, reply=reply)  # 486 Busy / 603 Decline
    async with open_practice(plan, pbx) as practice:
        channel = await practice.call("1,3")
        queued = practice.queues.calls[channel]
        await practice.wait_for(lambda: queued.agent_ext == "2006")  # then Fay (cardiology 2)
        ana = practice.queues.engine.snapshot(practice.queues.now()).agent("2001")
        assert ana.state == shown  # resting for a ring timeout, not paused


async def test_the_callback_offer_is_repeated_after_each_max_wait(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx, logged_in=["2006"]) as practice:
        practice.queues.feed(AgentPause("2006"))  # referrals: only Fay, and she is away
        channel = await practice.call("4,2", caller="+13125551001")  # max_wait 4m
        offers = lambda: pbx.pbx.history[channel].media.count("sound:frontdesk/callback-offer")  # noqa: E731
        await practice.wait_for(lambda: offers() >= 2, timeout=12)
        assert channel in practice.queues.calls  # not pressing 1 keeps them waiting
