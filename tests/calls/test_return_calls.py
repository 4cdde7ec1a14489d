"""Returning a patient's call by hand (calls/return_calls.py), over the emulated Asterisk:
the agent's phone first, then the patient through the trunk, bridged; the agent is
offered no queue call meanwhile."""

from __future__ import annotations

from frontdesk.calls.events import ReturnCallEnded, ReturnCallStarted
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.test_acd_calls import open_practice
from tests.test_acd_calls import pbx as pbx

CHLOE = "2003"
NUMBER = "+13125551001"


async def test_the_agent_first_then_the_patient_then_either_hangup_ends_both(
    plan: Plan, pbx: Emulator
) -> None:
    async with open_practice(plan, pbx, logged_in=[CHLOE]) as practice:
        returns = practice.runtime.returns
        assert returns is not None
        assert returns.start("old-call-1", CHLOE, NUMBER)
        assert not returns.start("old-call-1", CHLOE, NUMBER)  # once at a time
        agent, patient = "return-1-agent", "return-1-patient"
        history = pbx.pbx.history
        await practice.wait_for(lambda: patient in history)
        assert history[agent].endpoint == f"PJSIP/{CHLOE}"
        assert history[patient].dialstring == f"{NUMBER}@trunk"
        bridge = "frontdesk-r-old-call-1"
        await practice.wait_for(
            lambda: history[agent].bridge_id == history[patient].bridge_id == bridge
        )
        snapshot = practice.queues.engine.snapshot(practice.queues.now())
        assert snapshot.agent(CHLOE).state == "busy"  # no queue call meanwhile
        await pbx.agent_hangup(patient)  # the patient is done
        await practice.wait_for(lambda: bool(history[agent].destroyed))
        await practice.wait_for(
            lambda: (
                practice.queues.engine.snapshot(practice.queues.now()).agent(CHLOE).state == "idle"
            )
        )
    facts = [f for f in practice.seen if isinstance(f, ReturnCallStarted | ReturnCallEnded)]
    assert facts == [
        ReturnCallStarted("old-call-1", CHLOE),
        ReturnCallEnded("old-call-1", CHLOE, answered=True),
    ]


async def test_an_agent_phone_that_does_not_answer_ends_it(plan: Plan, pbx: Emulator) -> None:
    await pbx.set_phone(CHLOE, answer_after=0.05, reply=486)
    async with open_practice(plan, pbx, logged_in=[CHLOE]) as practice:
        returns = practice.runtime.returns
        assert returns is not None
        returns.start("old-call-2", CHLOE, NUMBER)
        await practice.wait_for(lambda: any(isinstance(f, ReturnCallEnded) for f in practice.seen))
        assert "return-1-patient" not in pbx.pbx.history  # the patient was never dialled
        assert returns.calls == {}
