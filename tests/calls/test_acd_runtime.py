"""The ACD over ARI without a PBX: ARI facts in, commands and hub facts out.

The executor is replaced by a list (what would be sent); the engine is the real one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from frontdesk.acd.model import AgentLogout, AgentPause, CallerJoined
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.commands import Command, DeleteBridge, Hangup, Originate
from frontdesk.calls.events import AgentStateChanged, CallAbandoned, ConversationEnded, HubEvent
from frontdesk.calls.queue_state import encode_state
from frontdesk.calls.runtime import CallRuntime
from frontdesk.calls.stasis import Entered, Leg
from frontdesk.plan import Plan
from frontdesk.store.records import PendingCallback
from tests.conftest import local

T0 = local("2026-11-30 10:00")
CHLOE = "2003"  # billing and front desk


@dataclass
class Desk:
    acd: AcdRuntime
    sent: list[Command] = field(default_factory=list)
    facts: list[HubEvent] = field(default_factory=list)

    def originated(self) -> list[Originate]:
        return [c for c in self.sent if isinstance(c, Originate)]


@pytest.fixture
async def desk(plan: Plan) -> AsyncIterator[Desk]:
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "frontdesk", "unused"))
    runtime = CallRuntime(plan, ari, now=lambda: T0 + timedelta(minutes=5))
    assert runtime.acd is not None
    desk = Desk(runtime.acd)

    def keep(lane: str, commands: Iterable[Command]) -> None:
        desk.sent.extend(commands)

    runtime.executor.submit = keep  # type: ignore[method-assign]
    runtime.hub.add_listener(desk.facts.append)
    desk.acd.agents.login_everyone([CHLOE])
    yield desk
    desk.acd.close()
    await runtime.close()
    await ari.close()


async def test_a_restored_conversation_keeps_its_agent_from_an_earlier_waiting_caller(
    desk: Desk,
) -> None:
    """After a restart, even if a caller who waited longer is fed first, the agent who was
    talking stays with their caller; the other caller waits, and the conversation ends as
    one when the patient hangs up."""
    waiting = CallerJoined("W", "billing", T0)
    talking = CallerJoined("T", "front_desk", T0 + timedelta(minutes=1))
    desk.acd.rejoin("W", encode_state(waiting))
    desk.acd.rejoin("T", encode_state(talking, talking=("T-agent-1", CHLOE)))
    assert (desk.acd.state("W"), desk.acd.state("T")) == ("waiting", "talking")
    assert Hangup("W-agent-2") in desk.sent  # the ring that started meanwhile is withdrawn
    desk.sent.clear()
    desk.acd.on_event("T", {"type": "ChannelDestroyed", "channel": {"id": "T"}})
    assert any(isinstance(f, ConversationEnded) and f.call == "T" for f in desk.facts)
    assert not any(isinstance(f, CallAbandoned) for f in desk.facts)
    assert desk.sent[:2] == [Hangup("T-agent-1"), DeleteBridge("T", "frontdesk-c-T")]


async def test_a_callback_conversation_lost_in_an_asterisk_restart_ends(desk: Desk) -> None:
    desk.acd.callbacks.take_held()  # as after the first resync
    desk.acd.restore_callbacks(
        [
            PendingCallback(
                "W", 1, "pending", "billing", "normal", None, None, "billing", "en",
                "+13125551007", T0, 0, None, False, T0,
            )
        ]
    )  # fmt: skip
    (agent,) = desk.originated()
    desk.acd.leg_answered(Entered(agent.channel, {}, leg=Leg.CALLBACK_AGENT, of_call="W"))
    whisper_done = {"type": "PlaybackFinished", "playback": {"id": f"{agent.channel}-whisper"}}
    desk.acd.on_event(agent.channel, whisper_done)
    patient = desk.originated()[-1]
    desk.acd.leg_answered(Entered(patient.channel, {}, leg=Leg.CALLBACK_PATIENT, of_call="W"))
    assert desk.acd.state("W") == "talking"
    desk.acd.lost("W")  # the caller's own channel: gone long ago, it says nothing
    assert desk.acd.state("W") == "talking"
    desk.acd.lost(agent.channel)  # Asterisk restarted: both legs are gone
    desk.acd.lost(patient.channel)
    assert desk.acd.state("W") == "gone"
    assert any(isinstance(f, ConversationEnded) for f in desk.facts)
    assert desk.acd.engine.snapshot().agent(CHLOE).state != "talking"


async def test_who_staffs_for_the_router_drops_an_unreachable_phone_not_a_pause(
    desk: Desk,
) -> None:
    """docs/routing.md §3.2: the set the menu and FastAGI route with (`logged_in`)."""
    staffing = desk.acd.logged_in
    desk.acd.feed(AgentPause(CHLOE))
    assert CHLOE in staffing
    desk.acd.agents.phone_reachable(CHLOE, False)
    assert CHLOE not in staffing
    assert AgentStateChanged(CHLOE, "unreachable") in desk.facts
    desk.acd.agents.phone_reachable(CHLOE, True)
    assert CHLOE in staffing
    desk.acd.feed(AgentLogout(CHLOE))
    assert CHLOE not in staffing
