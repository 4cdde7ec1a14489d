"""A prompt file missing on Asterisk never strands a caller.

Asterisk answers the `play` with 201 and then ends the playback at once (`PlaybackFinished`,
state `failed`; the emulator does the same when it is told which sound files exist). The
IVR takes that as "the prompts are over": the menu's timer runs, the caller is asked again
and, still silent, goes to the front desk. A missing callback whisper still leads to the
patient being dialled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from frontdesk.acd.model import AgentPause, AgentUnpause
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from frontdesk.routing.destination import QueueDestination
from tests.test_acd_calls import (
    PASSWORD,
    SPEED,
    STAFF,
    _hung_up,
    open_practice,
    rendered_prompts,
)


def _emulator(sounds: set[str]) -> Emulator:
    return Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.01,
        answer_after=0.05,
        time_scale=1 / SPEED,
        sounds=sounds,
    )


@pytest.fixture
async def bare() -> AsyncIterator[Emulator]:
    """An Asterisk where `frontdesk prompts` was never run: core sounds only."""
    async with _emulator(set()) as emulator:
        yield emulator
        assert emulator.violations == []


async def test_a_caller_who_hears_no_menu_still_reaches_the_front_desk(
    plan: Plan, bare: Emulator
) -> None:
    quick = plan.model_copy(
        update={"menu": plan.menu.model_copy(update={"timeout": timedelta(seconds=0.2)})}
    )
    async with open_practice(quick, bare) as practice:
        channel = await bare.place_call(caller="+17735550123", did="+13125550000")
        await practice.wait_for(lambda: channel in practice.queues.calls, timeout=10)
        routed = next(r for r in practice.routed if r.call == channel)
        destination = routed.decision.destination
        assert isinstance(destination, QueueDestination)
        assert destination.queue == "front_desk"
        assert routed.decision.request.category == "unrouted"
        history = bare.pbx.history[channel]
        # The notice and menu, then two replays: every one failed, none stranded the caller.
        assert history.failed_media.count("sound:frontdesk/menu-operator") == 3
        assert "sound:frontdesk/emergency-notice" in history.failed_media


async def test_a_caller_who_hears_no_menu_can_still_press_a_key(plan: Plan, bare: Emulator) -> None:
    async with open_practice(plan, bare) as practice:
        channel = await practice.call("2")  # the menu "played" (and failed): billing
        routed = next(r for r in practice.routed if r.call == channel)
        assert routed.decision.destination == QueueDestination("billing", ())
        assert "sound:frontdesk/menu-2" in bare.pbx.history[channel].failed_media


async def test_a_missing_callback_whisper_still_dials_the_patient(plan: Plan) -> None:
    sounds = {s for s in rendered_prompts(plan) if "/callback-billing" not in s}
    async with _emulator(sounds) as pbx, open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))  # Chloe is busy: billing callers wait
        channel = await practice.call("2", caller="+13125551001")
        await practice.wait_for(
            lambda: "sound:frontdesk/callback-offer" in pbx.pbx.history[channel].media, timeout=10
        )
        await pbx.press(channel, "1")
        await practice.wait_for(lambda: _hung_up(pbx, channel))
        practice.queues.feed(AgentUnpause("2003"))
        queued = practice.queues.calls[channel]
        await practice.wait_for(
            lambda: practice.queues.state(queued.channel) == "talking", timeout=10
        )
        agent_leg = queued.agent_leg
        assert agent_leg is not None
        assert pbx.pbx.history[agent_leg].failed_media == ["sound:frontdesk/callback-billing"]
        assert queued.patient_leg is not None  # dialled after the (empty) whisper and the beep
        assert pbx.violations == []
