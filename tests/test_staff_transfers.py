"""End to end: staff hand a patient on through frontdesk (calls/staff_transfers.py), over
the emulated Asterisk: to a queue (the patient keeps their place by arrival), to a
colleague (rung, then bridged; no answer: back to the queue at the front), to an
external number of the plan, and by `*8<n>` on the agent's phone."""

from __future__ import annotations

import pytest

from frontdesk.acd.model import AgentPause, AgentUnpause
from frontdesk.calls.events import CallFact, StaffTransferred
from frontdesk.calls.staff_transfers import StaffTransfers, TransferRefused
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.test_acd_calls import FastClock, Practice, open_practice
from tests.test_acd_calls import pbx as pbx
from tests.test_call_records import record, wait_row
from tests.test_phone_transfer import talking

ANA, BEN, ELI, FAY = "2001", "2002", "2005", "2006"


@pytest.fixture
def clock() -> FastClock:
    from tests.conftest import local

    return FastClock(local("2026-11-30 10:00"))


def staff(practice: Practice) -> StaffTransfers:
    transfers = practice.runtime.staff_transfers
    assert transfers is not None
    return transfers


def facts_of(practice: Practice, channel: str) -> list[CallFact]:
    return [f for f in practice.seen if isinstance(f, CallFact) and f.call == channel]


def queue_order(practice: Practice, queue: str) -> list[str]:
    snapshot = practice.queues.engine.snapshot(practice.queues.now())
    return [c.call_id for c in snapshot.queue(queue).callers]


async def test_to_another_queue_keeps_the_place_by_arrival_and_counts_as_misrouted(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        rows = record(practice, clock)
        practice.queues.feed(AgentPause("2003"))  # Chloe (billing) is busy
        channel, agent_leg = await talking(practice, "+13125551001")
        later = await practice.call("2", caller="+17735550124")  # billing, arrives after
        staff(practice).to_queue(channel, "billing", by=ANA, reason="a bill", category="billing")
        hold = "frontdesk-q-billing"
        await practice.wait_for(lambda: pbx.pbx.history[channel].bridge_id == hold)
        assert queue_order(practice, "billing") == [channel, later]  # arrived first
        await practice.wait_for(lambda: bool(pbx.pbx.history[agent_leg].destroyed))
        assert f"frontdesk-c-{channel}" not in pbx.pbx.bridges
        state = pbx.pbx.history[channel].variables["FRONTDESK_STATE"]
        assert '"q":"billing"' in state  # a restart finds them in billing
        practice.queues.feed(AgentUnpause("2003"))
        await practice.wait_for(lambda: practice.agent_of(channel) == "2003")
        row = await wait_row(practice, rows, channel, "transferred")
    (fact,) = [f for f in facts_of(practice, channel) if isinstance(f, StaffTransferred)]
    assert (fact.by, fact.to, fact.target, fact.reason) == (ANA, "queue", "billing", "a bill")
    assert (fact.category, fact.misrouted) == ("billing", True)
    assert row["transferred"] is True


async def test_to_a_colleague_rings_then_bridges(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        channel, agent_leg = await talking(practice, "+13125551001")
        staff(practice).to_agent(channel, ELI, by=ANA, reason="needs a nurse")
        bridge = f"frontdesk-c-{channel}"
        leg = f"{channel}-handover-1"
        await practice.wait_for(lambda: pbx.pbx.history.get(leg) is not None)
        assert pbx.pbx.history[leg].endpoint == f"PJSIP/{ELI}"
        await practice.wait_for(lambda: pbx.pbx.history[leg].bridge_id == bridge)
        assert pbx.pbx.history[channel].bridge_id == bridge
        assert pbx.pbx.history[agent_leg].destroyed  # Ana is free
        assert practice.queues.state(channel) == "transferred"
        await pbx.agent_hangup(leg)  # Eli is done: the patient's call ends too
        await practice.wait_for(lambda: bool(pbx.pbx.history[channel].destroyed))
        await practice.wait_for(lambda: bridge not in pbx.pbx.bridges)
    assert practice.queues.state(channel) == "gone"


async def test_a_colleague_who_does_not_answer_sends_the_patient_back_first_in_line(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    await pbx.set_phone(ELI, answer_after=0.05, reply=486)
    async with open_practice(plan, pbx, clock=clock) as practice:
        for ext in (BEN, FAY):
            practice.queues.feed(AgentPause(ext))
        channel, _ = await talking(practice, "+13125551001")
        later = await practice.call("1,3", caller="+17735550124")
        staff(practice).to_agent(channel, ELI, by=ANA)
        practice.queues.feed(AgentPause(ANA))
        hold = "frontdesk-q-scheduling"
        await practice.wait_for(lambda: pbx.pbx.history[channel].bridge_id == hold)
        assert queue_order(practice, "scheduling") == [channel, later]
        practice.queues.feed(AgentUnpause(FAY))
        await practice.wait_for(lambda: practice.agent_of(channel) == FAY)


async def test_to_an_external_of_the_plan_dials_its_dial_string(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    name, external = next(iter(plan.external.items()))
    async with open_practice(plan, pbx, clock=clock) as practice:
        channel, _ = await talking(practice, "+13125551001")
        staff(practice).to_external(channel, name, by=ANA, reason="pharmacy")
        leg = f"{channel}-handover-1"
        await practice.wait_for(lambda: pbx.pbx.history.get(leg) is not None)
        assert "PJSIP/" + pbx.pbx.history[leg].dialstring == external.dial  # the trunk


async def test_star_8_on_the_agents_phone_moves_the_patient_to_that_queue(
    plan: Plan, pbx: Emulator, clock: FastClock
) -> None:
    number = list(plan.queues).index("billing") + 1
    async with open_practice(plan, pbx, clock=clock) as practice:
        practice.queues.feed(AgentPause("2003"))
        channel, agent_leg = await talking(practice, "+13125551001")
        for key in f"*8{number}":
            await pbx.press(agent_leg, key)
        await practice.wait_for(lambda: practice.queues.state(channel) == "waiting")
        assert queue_order(practice, "billing") == [channel]
    (fact,) = [f for f in facts_of(practice, channel) if isinstance(f, StaffTransferred)]
    assert (fact.by, fact.reason) == (ANA, f"*8{number}")


async def test_refusals_name_the_problem(plan: Plan, pbx: Emulator, clock: FastClock) -> None:
    async with open_practice(plan, pbx, clock=clock) as practice:
        channel, _ = await talking(practice, "+13125551001")
        transfers = staff(practice)
        cases = [
            (lambda: transfers.to_queue("nope", "billing", by=ANA), 404),
            (lambda: transfers.to_queue(channel, "no_such_queue", by=ANA), 422),
            (lambda: transfers.to_queue(channel, "billing", by=ANA, skill="cardiology"), 422),
            (lambda: transfers.to_agent(channel, ANA, by=ANA), 422),
            (lambda: transfers.to_agent(channel, "9999", by=ANA), 422),
            (lambda: transfers.to_external(channel, "+15551234567", by=ANA), 422),
        ]
        for attempt, status in cases:
            with pytest.raises(TransferRefused) as refused:
                attempt()
            assert refused.value.status == status
        assert practice.queues.state(channel) == "talking"  # nothing happened to the call
