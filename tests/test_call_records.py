"""End to end: each call story of the earlier issues leaves the right call row.

Calls run over real sockets through the emulated Asterisk, the call runtime and the ACD;
the recorder's records are merged the way PostgreSQL merges them (later non-null wins;
the outbox-to-PostgreSQL path itself is tested in tests/store).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from frontdesk.acd.model import AgentPause
from frontdesk.asterisk.ari import AriError
from frontdesk.calls.commands import StopPlayback
from frontdesk.calls.recorder import CallRecorder
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from frontdesk.store.records import CallEvent, CallUpsert, Record
from tests.conftest import local
from tests.test_acd_calls import SPEED, FastClock, Practice, _hung_up, open_practice
from tests.test_acd_calls import pbx as pbx


class Rows:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def put(self, record: Record) -> None:
        self.records.append(record)

    def row(self, linkedid: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for record in self.records:
            if isinstance(record, CallUpsert) and record.linkedid == linkedid:
                merged |= record.present()
        return merged


def record(practice: Practice, clock: FastClock) -> Rows:
    rows = Rows()
    recorder = CallRecorder(rows, clock)
    practice.runtime.hub.add_listener(recorder.on_hub)
    return rows


@pytest.fixture
def clock() -> FastClock:
    return FastClock(local("2026-11-30 10:00"))


async def wait_row(practice: Practice, rows: Rows, channel: str, key: str) -> dict[str, Any]:
    await practice.wait_for(lambda: rows.row(channel).get(key) is not None, timeout=10)
    return rows.row(channel)


async def test_answered_call(plan: Plan, pbx: Emulator, clock: FastClock) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await practice.call("1,3", caller="+13125551001")
        queued = practice.queues.calls[channel]
        await practice.wait_for(lambda: practice.queues.state(queued.channel) == "talking")
        assert queued.agent_leg is not None
        await asyncio.sleep(0.1)  # a few practice seconds of conversation
        await pbx.agent_hangup(queued.agent_leg)
        row = await wait_row(practice, rows, channel, "talk_s")
    assert row["caller"] == "+13125551001"
    assert row["patient_id"] == "P-1001"
    assert (row["category"], row["queue"], row["agent"]) == ("scheduling", "scheduling", "2001")
    assert row["outcome"] == "answered"
    assert row["talk_s"] >= 1
    assert row["wait_s"] >= 0
    assert row["after_hours"] is False


async def test_abandoned_in_the_queue(plan: Plan, pbx: Emulator, clock: FastClock) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"], clock=clock) as practice:
        rows = record(practice, clock)
        practice.queues.feed(AgentPause("2003"))
        channel = await practice.call("2")
        await asyncio.sleep(0.2)
        await pbx.hangup(channel)
        row = await wait_row(practice, rows, channel, "outcome")
    assert (row["outcome"], row["abandoned"]) == ("abandoned", True)
    assert row["wait_s"] >= 1


async def test_hung_up_in_the_menu(plan: Plan, pbx: Emulator, clock: FastClock) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await pbx.place_call(caller="+17735550123", did="+13125550000")
        await practice.wait_for(lambda: channel in practice.runtime.sessions)
        await pbx.hangup(channel)
        row = await wait_row(practice, rows, channel, "outcome")
    assert (row["outcome"], row["abandoned"]) == ("abandoned", True)
    assert row.get("category") is None


async def test_voicemail_after_hours(plan: Plan, pbx: Emulator) -> None:
    clock = FastClock(local("2026-11-30 20:00"))
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(lambda: f"frontdesk/billing/{channel}" in pbx.pbx.live)
        await pbx.press(channel, "#")
        row = await wait_row(practice, rows, channel, "voicemail")
    assert (row["outcome"], row["after_hours"], row["voicemail"]) == ("voicemail", True, True)


async def test_voicemail_left_by_hanging_up(plan: Plan, pbx: Emulator) -> None:
    """Most patients hang up instead of pressing #: that is still a message left."""
    clock = FastClock(local("2026-11-30 20:00"))
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await practice.call("2", caller="+13125551001")
        name = f"frontdesk/billing/{channel}"
        await practice.wait_for(lambda: name in pbx.pbx.live)
        await asyncio.sleep(0.2)  # about 12 practice seconds of message
        await pbx.hangup(channel)
        row = await wait_row(practice, rows, channel, "voicemail")
        await asyncio.sleep(0.05)  # a wrongful delete of the recording would land by now
    assert (row["outcome"], row["voicemail"], row.get("abandoned")) == ("voicemail", True, None)
    assert pbx.pbx.stored[name].seconds >= 1
    (left,) = [e.data for e in _events(rows, channel) if e.kind == "voicemail"]
    assert left["callback_due"] is not None  # the callback task, as for #
    assert (left["recording"], left["hung_up"]) == (name, True)


async def test_hanging_up_at_the_beep_is_abandoned(plan: Plan, pbx: Emulator) -> None:
    clock = FastClock(local("2026-11-30 20:00"))
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await practice.call("2", caller="+13125551001")
        name = f"frontdesk/billing/{channel}"
        await practice.wait_for(lambda: name in pbx.pbx.live)
        await pbx.hangup(channel)  # under 1 s of audio: nothing was said
        row = await wait_row(practice, rows, channel, "outcome")
        await practice.wait_for(lambda: name not in pbx.pbx.stored)  # no empty message
    assert (row["outcome"], row["abandoned"], row.get("voicemail")) == ("abandoned", True, None)
    assert not [e for e in _events(rows, channel) if e.kind == "voicemail"]


def _events(rows: Rows, channel: str) -> list[CallEvent]:
    return [r for r in rows.records if isinstance(r, CallEvent) and r.linkedid == channel]


async def test_urgent_transfer_after_hours(plan: Plan, pbx: Emulator) -> None:
    clock = FastClock(local("2026-11-30 20:00"))
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await practice.call("3,1")
        row = await wait_row(practice, rows, channel, "outcome")
    assert (row["outcome"], row["urgent"], row["category"]) == (
        "transferred_external",
        True,
        "clinical",
    )


async def test_callback_accepted(plan: Plan, pbx: Emulator, clock: FastClock) -> None:
    async with open_practice(plan, pbx, logged_in=["2003"], clock=clock) as practice:
        rows = record(practice, clock)
        practice.queues.feed(AgentPause("2003"))
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(
            lambda: "sound:frontdesk/callback-offer" in pbx.pbx.history[channel].media,
            timeout=6 * 60 / SPEED + 5,
        )
        await pbx.press(channel, "1")
        await practice.wait_for(lambda: _hung_up(pbx, channel))
        row = await wait_row(practice, rows, channel, "callback_accepted")
    assert (row["outcome"], row["callback_offered"]) == ("callback", True)


async def test_a_key_pressed_as_the_prompt_ends_is_not_a_hang_up(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    """The key's StopPlayback reaches Asterisk after the prompt ended on its own: 404
    Playback not found. The call goes on (seen on busy machines: the caller was left in
    silence, recorded `abandoned` in the menu)."""
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        channel = await pbx.place_call(caller="+17735550123", did="+13125550000")
        await practice.wait_for(lambda: channel in practice.runtime.sessions)
        session = practice.runtime.sessions[channel]
        await practice.wait_for(lambda: session.current_playback is not None)
        playback = session.current_playback or ""
        ended = AriError("DELETE", f"/playbacks/{playback}", 404, "Playback not found")
        practice.runtime.menu.request_failed(StopPlayback(channel, playback), ended)
        assert channel in practice.runtime.sessions
        await practice.wait_for(lambda: session.ivr.phase.name == "WAITING")
        await pbx.press(channel, "2")
        await practice.wait_for(lambda: channel in practice.queues.calls)
    assert [e.kind for e in _events(rows, channel)][:3] == ["started", "routed", "joined"]
    assert "abandoned" not in [e.kind for e in _events(rows, channel)]
