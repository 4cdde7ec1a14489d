"""End to end: an agent presses the BLIND TRANSFER button of their phone (SIP REFER).

frontdesk's ACD over the emulated Asterisk, which reproduces what a real Asterisk 22.10.1
sent frontdesk for such a transfer (tests/asterisk/recorded/
blind_transfer_from_agent_phone.jsonl): a Local channel enters the app with
`replace_channel` = the agent's channel and takes its place in the conversation bridge.
It is the call's transfer leg, never a new call: no menu, no second session or row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from frontdesk.acd.model import AgentPause, AgentUnpause
from frontdesk.calls.events import CallFact
from frontdesk.emulator import Emulator
from frontdesk.emulator.dialplan import default_dialplan
from frontdesk.plan import Plan
from tests.conftest import local
from tests.test_acd_calls import (
    PASSWORD,
    SPEED,
    STAFF,
    FastClock,
    Practice,
    open_practice,
    rendered_prompts,
)
from tests.test_call_records import _events, record, wait_row

TARGET = "2005"  # Eli, a nurse: the extension the agent transfers to
# Dial()'s ring time in the staff context: the lab's 20 s would be a third of a real
# second at this speed; 10 real seconds leave the caller time to hang up mid-ring.
RING_S = int(10 * SPEED)


@pytest.fixture
async def pbx(plan: Plan) -> AsyncIterator[Emulator]:
    """tests.test_acd_calls's emulator, with a longer ring in the staff context."""
    dialplan = default_dialplan("frontdesk")
    dialplan["staff"] = {"_200X": [("Dial", f"PJSIP/${{EXTEN}},{RING_S}"), ("Hangup", "")]}
    emulator = Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.01,
        answer_after=0.05,
        time_scale=1 / SPEED,
        sounds=rendered_prompts(plan),
        dialplan=dialplan,
    )
    await emulator.start()
    yield emulator
    await emulator.stop()
    assert emulator.violations == []
    failed = {m for ch in emulator.pbx.history.values() for m in ch.failed_media}
    assert not failed, f"played but never rendered: {sorted(failed)}"


@pytest.fixture
def clock() -> FastClock:
    return FastClock(local("2026-11-30 10:00"))


async def talking(practice: Practice, caller: str) -> tuple[str, str]:
    """A caller routed to cardiology scheduling and answered by Ana (2001): the caller's
    and the agent's channels, once both are in the conversation bridge."""
    channel = await practice.call("1,3", caller=caller)
    queued = practice.queues.calls[channel]
    await practice.wait_for(lambda: practice.queues.state(queued.channel) == "talking")
    leg = queued.agent_leg
    assert leg is not None
    bridge = f"frontdesk-c-{channel}"
    history = practice.pbx.pbx.history
    await practice.wait_for(lambda: history[channel].bridge_id == history[leg].bridge_id == bridge)
    return channel, leg


def answered(practice: Practice, channel: str) -> bool:
    """The call (by the patient's channel) is transferred and the target picked up."""
    transfer = practice.queues.transfers.calls.get(channel)
    return transfer is not None and transfer.answered


def alerts_of(practice: Practice, channel: str) -> list[dict[str, Any]]:
    """The call's facts on the hub, as their stored form (`kind`, `call` and data)."""
    facts = [f for f in practice.seen if isinstance(f, CallFact) and f.call == channel]
    return [{"kind": f.kind, "call": f.call, **f.data()} for f in facts]


def requests_since(pbx: Emulator, start: int) -> list[dict[str, Any]]:
    return pbx.requests[start:]


def destroyed(pbx: Emulator, channel: str | None) -> bool:
    return channel is not None and pbx.pbx.history[channel].destroyed


async def test_answered_transfer_is_the_same_call_and_ends_with_the_target(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel, agent_leg = await talking(practice, "+13125551001")
        assert channel in practice.queues.calls
        since = len(pbx.requests)
        media = {c.id: len(c.media) for c in pbx.pbx.history.values()}
        reply = await pbx.transfer(agent_leg, TARGET)
        leg, target = reply["local_channel_id"], reply["target_channel_id"]
        assert leg is not None
        assert target is not None
        await practice.wait_for(lambda: answered(practice, channel))
        assert practice.queues.state(channel) == "transferred"
        assert practice.queues.transfers.calls[channel].leg == leg
        # The agent's swapped-out channel is hung up; the agent is free for new calls.
        await practice.wait_for(lambda: destroyed(pbx, agent_leg))
        snapshot = practice.queues.engine.snapshot(practice.queues.now())
        assert snapshot.agent("2001").state != "talking"
        # The caller talks with Eli until Eli hangs up; then the caller is hung up too.
        assert not destroyed(pbx, channel)
        await pbx.agent_hangup(target)
        await practice.wait_for(lambda: destroyed(pbx, channel))
        await practice.wait_for(lambda: f"frontdesk-c-{channel}" not in pbx.pbx.bridges)
        row = await wait_row(practice, rows, channel, "transferred")

    transferred = [a for a in alerts_of(practice, channel) if a["kind"] == "transferred"]
    assert transferred == [
        {"kind": "transferred", "call": channel, "agent": "2001", "target": TARGET, "how": "blind"}
    ]
    assert row["transferred"] is True
    assert (row["outcome"], row["agent"]) == ("answered", "2001")
    (event,) = [e for e in _events(rows, channel) if e.kind == "transferred"]
    assert (event.data["target"], event.data["agent"], event.data["how"]) == (
        TARGET,
        "2001",
        "blind",
    )
    # Never a new call: no session, no route, no row, nothing answered or played for the
    # Local channel, and no menu for anyone after the transfer.
    assert leg not in practice.runtime.sessions
    assert all(r.call != leg for r in practice.routed)
    assert rows.row(leg) == {}
    after = requests_since(pbx, since)
    assert not [r for r in after if leg in r["path"] and r["method"] == "POST"]
    plays = [r for r in after if r["path"].endswith("/play")]
    assert not [r for r in plays if "menu" in str(r["query"]) + str(r["body"])]
    started = [m for c in pbx.pbx.history.values() for m in c.media[media.get(c.id, 0) :]]
    assert not [m for m in started if "menu" in m]
    hangups = {r["path"] for r in after if r["method"] == "DELETE"}
    assert {f"/ari/channels/{agent_leg}", f"/ari/channels/{channel}"} <= hangups


async def test_attended_transfer_is_the_same_call_and_names_the_colleague(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    """Ana calls Eli from her phone, then completes the transfer (REFER with Replaces):
    `Local/_attended@transfer-…;1` takes her place, Up at once; BridgeAttendedTransfer
    names Eli (tests/asterisk/recorded/attended_transfer_from_agent_phone.jsonl)."""
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel, agent_leg = await talking(practice, "+13125551001")
        assert channel in practice.queues.calls
        since = len(pbx.requests)
        media = {c.id: len(c.media) for c in pbx.pbx.history.values()}
        reply = await pbx.attended_transfer(agent_leg, TARGET)
        leg, target = reply["local_channel_id"], reply["target_channel_id"]
        await practice.wait_for(lambda: answered(practice, channel))
        assert practice.queues.state(channel) == "transferred"
        assert practice.queues.transfers.calls[channel].leg == leg
        # BridgeAttendedTransfer follows the swap: it names the colleague.
        await practice.wait_for(
            lambda: any(a["kind"] == "transfer_target" for a in alerts_of(practice, channel))
        )
        # The agent's swapped-out channel is hung up; the agent is free for new calls.
        await practice.wait_for(lambda: destroyed(pbx, agent_leg))
        snapshot = practice.queues.engine.snapshot(practice.queues.now())
        assert snapshot.agent("2001").state != "talking"
        # The caller talks with Eli until Eli hangs up; then the caller is hung up too.
        assert not destroyed(pbx, channel)
        await pbx.agent_hangup(target)
        await practice.wait_for(lambda: destroyed(pbx, channel))
        await practice.wait_for(lambda: f"frontdesk-c-{channel}" not in pbx.pbx.bridges)
        row = await wait_row(practice, rows, channel, "transferred")

    alerts = alerts_of(practice, channel)
    transferred = [a for a in alerts if a["kind"] == "transferred"]
    assert transferred == [
        {"kind": "transferred", "call": channel, "agent": "2001", "target": None, "how": "attended"}
    ]
    named = [a for a in alerts if a["kind"] == "transfer_target"]
    assert named == [{"kind": "transfer_target", "call": channel, "target": TARGET}]
    order = [a["kind"] for a in alerts]
    assert order.index("transferred") < order.index("transfer_target") < order.index("talk_ended")
    assert row["transferred"] is True
    assert (row["outcome"], row["agent"]) == ("answered", "2001")
    (event,) = [e for e in _events(rows, channel) if e.kind == "transferred"]
    assert (event.data["target"], event.data["agent"], event.data["how"]) == (
        None,
        "2001",
        "attended",
    )
    (named_event,) = [e for e in _events(rows, channel) if e.kind == "transfer_target"]
    assert named_event.data["target"] == TARGET
    # Never a new call: no session, no route, no row, nothing answered or played for the
    # Local channel, and no menu for anyone after the transfer.
    assert leg not in practice.runtime.sessions
    assert all(r.call != leg for r in practice.routed)
    assert rows.row(leg) == rows.row(target) == {}
    after = requests_since(pbx, since)
    assert not [r for r in after if leg in r["path"] and r["method"] == "POST"]
    plays = [r for r in after if r["path"].endswith("/play")]
    assert not [r for r in plays if "menu" in str(r["query"]) + str(r["body"])]
    started = [m for c in pbx.pbx.history.values() for m in c.media[media.get(c.id, 0) :]]
    assert not [m for m in started if "menu" in m]
    hangups = {r["path"] for r in after if r["method"] == "DELETE"}
    assert {f"/ari/channels/{agent_leg}", f"/ari/channels/{channel}"} <= hangups
    assert f"/ari/channels/{leg}" not in hangups  # it ended with Eli's hang-up


async def test_busy_target_puts_the_caller_back_at_the_front_of_the_agents_queue(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    await pbx.set_phone(TARGET, answer_after=0.05, reply=486)
    async with open_practice(plan, pbx, clock=clock) as practice:
        for ext in ("2002", "2006"):  # nobody else in scheduling for now
            practice.queues.feed(AgentPause(ext))
        channel, agent_leg = await talking(practice, "+13125551001")
        later = await practice.call("1,3", caller="+17735550124")  # arrives after
        reply = await pbx.transfer(agent_leg, TARGET)
        practice.queues.feed(AgentPause("2001"))  # Ana steps away after handing it on
        leg, target = reply["local_channel_id"], reply["target_channel_id"]
        # Never left in silence, never dropped: back on hold in scheduling, first in line.
        hold = "frontdesk-q-scheduling"
        await practice.wait_for(lambda: pbx.pbx.history[channel].bridge_id == hold)
        assert practice.queues.state(channel) == "waiting"
        order = practice.queues.engine.snapshot(clock()).queue("scheduling").callers
        assert [c.call_id for c in order] == [channel, later]
        assert order[0].priority == "front"
        assert pbx.pbx.history[channel].continued_to is None  # not sent to the dialplan
        assert destroyed(pbx, leg)
        assert target is not None
        assert destroyed(pbx, target)
        assert pbx.pbx.history[target].hangup_cause == 17  # Eli's phone answered 486
        await practice.wait_for(lambda: f"frontdesk-c-{channel}" not in pbx.pbx.bridges)
        # The next cardiology agent free takes them first.
        practice.queues.feed(AgentUnpause("2006"))
        await practice.wait_for(lambda: practice.agent_of(channel) == "2006")
    kinds = [a["kind"] for a in alerts_of(practice, channel)]
    assert "transferred" in kinds
    assert "transfer_failed" in kinds
    failed = kinds.index("transfer_failed")
    assert kinds.index("transferred") < failed < kinds.index("joined", failed)
    assert leg not in practice.runtime.sessions


async def test_caller_hanging_up_during_the_transfer_hangs_the_local_leg_up(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    await pbx.set_phone(TARGET, answer_after=None)  # Eli's phone rings and rings
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel, agent_leg = await talking(practice, "+13125551001")
        queued = practice.queues.calls[channel]
        reply = await pbx.transfer(agent_leg, TARGET)
        leg, target = reply["local_channel_id"], reply["target_channel_id"]
        assert leg is not None
        await practice.wait_for(lambda: practice.queues.state(queued.channel) == "transferred")
        assert pbx.pbx.history[leg].state == "Ringing"
        since = len(pbx.requests)
        await pbx.hangup(channel)
        await practice.wait_for(lambda: destroyed(pbx, leg))
        assert destroyed(pbx, target)  # Eli's phone stops ringing
        assert any(
            (r["method"], r["path"]) == ("DELETE", f"/ari/channels/{leg}")
            for r in requests_since(pbx, since)
        )
        await practice.wait_for(lambda: destroyed(pbx, agent_leg))
        await practice.wait_for(lambda: f"frontdesk-c-{channel}" not in pbx.pbx.bridges)
        row = await wait_row(practice, rows, channel, "ended_at")
    assert channel not in practice.queues.calls
    assert row["transferred"] is True
    assert "talk_ended" in [a["kind"] for a in alerts_of(practice, channel)]


async def test_transfer_of_a_callback_conversation_ends_with_the_patients_leg(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    """A callback: the caller hung up long ago and the patient's leg is in the bridge."""
    async with open_practice(plan, pbx, logged_in=["2003"], clock=clock) as practice:
        practice.queues.feed(AgentPause("2003"))  # Chloe is busy: billing callers wait
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(
            lambda: "sound:frontdesk/callback-offer" in pbx.pbx.history[channel].media, timeout=10
        )
        await pbx.press(channel, "1")
        await practice.wait_for(lambda: destroyed(pbx, channel))
        practice.queues.feed(AgentUnpause("2003"))
        queued = practice.queues.calls[channel]
        await practice.wait_for(
            lambda: practice.queues.state(queued.channel) == "talking", timeout=10
        )
        agent_leg, patient_leg = queued.agent_leg, queued.patient_leg
        assert agent_leg is not None
        assert patient_leg is not None
        bridge = f"frontdesk-c-{channel}"
        history = pbx.pbx.history
        await practice.wait_for(
            lambda: history[agent_leg].bridge_id == history[patient_leg].bridge_id == bridge
        )
        reply = await pbx.transfer(agent_leg, TARGET)
        target = reply["target_channel_id"]
        assert target is not None
        await practice.wait_for(lambda: answered(practice, patient_leg))
        assert not destroyed(pbx, patient_leg)
        await pbx.agent_hangup(target)
        await practice.wait_for(lambda: destroyed(pbx, patient_leg))
