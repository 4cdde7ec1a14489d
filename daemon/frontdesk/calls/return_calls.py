"""Returning a patient's call by hand: "call back now" on a callback task or a voicemail.

The agent's phone is rung first (Stasis args `return-agent,<call>`, `<call>` being the
patient's original call); when the agent answers, the patient is dialled through the
trunk with the practice's main number (`return-patient,<call>`) and the two are bridged
(`frontdesk-r-<call>`). Either side hanging up ends both; a patient who does not answer
hangs the agent up. The ACD offers the agent no queue call meanwhile
(`AgentOutsideCall`). The number never reaches a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from frontdesk.acd.model import AgentOutsideCall, Event
from frontdesk.asterisk.ari import AriError
from frontdesk.asterisk.ari_events import CHANNEL_ENDING
from frontdesk.calls import events
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import Command, DeleteBridge, Hangup, MakeBridge, Originate
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.stasis import Entered, Leg, leg_args
from frontdesk.plan.model import Plan

log = structlog.get_logger("frontdesk.calls")
RING_SECONDS = 30


@dataclass
class ReturnCall:
    call: str  # the patient's original call (its task or voicemail)
    agent: str  # the extension
    number: str
    agent_leg: str
    patient_leg: str
    answered: bool = False  # the patient picked up


class ReturnCalls:
    def __init__(
        self,
        plan: Plan,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        feed: Callable[[Event], None],
        trunk: str = "trunk",
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.feed = feed  # the ACD's engine: the agent is busy meanwhile
        self.trunk = trunk
        self.calls: dict[str, ReturnCall] = {}  # by each leg
        self._seq = 0

    def start(self, call: str, agent: str, number: str) -> bool:
        """Ring the agent, then the patient. False: that call is being returned already."""
        if any(r.call == call for r in self.calls.values()):
            return False
        self._seq += 1
        leg = f"return-{self._seq}"
        returning = ReturnCall(call, agent, number, f"{leg}-agent", f"{leg}-patient")
        self._claim(returning, returning.agent_leg)
        self.feed(AgentOutsideCall(agent, active=True))
        log.info("return_call.started", call=call, agent=agent)
        self.hub.publish(events.ReturnCallStarted(call, agent))
        ring = Originate(
            returning.agent_leg,
            f"PJSIP/{agent}",
            leg_args(Leg.RETURN_AGENT, call),
            "Callback",
            RING_SECONDS,
        )
        self.executor.submit(returning.agent_leg, [ring])
        return True

    def leg_answered(self, entered: Entered) -> None:
        returning = self.calls.get(entered.channel_id)
        if returning is None or returning.call != entered.of_call:
            self.executor.submit(entered.channel_id, [Hangup(entered.channel_id)])
            return
        if entered.leg is Leg.RETURN_AGENT:  # now the patient
            self._claim(returning, returning.patient_leg)
            endpoint = f"PJSIP/{returning.number}@{self.trunk}"
            main = next(iter(self.plan.numbers), None)
            args = leg_args(Leg.RETURN_PATIENT, returning.call)
            ring = Originate(returning.patient_leg, endpoint, args, main, RING_SECONDS)
            self.executor.submit(returning.agent_leg, [ring])
            return
        returning.answered = True
        bridge = f"frontdesk-r-{returning.call}"
        members = (returning.agent_leg, returning.patient_leg)
        self.executor.submit(
            returning.agent_leg, [MakeBridge(returning.agent_leg, bridge, members)]
        )

    # -- the owner of both legs ----------------------------------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        returning = self.calls.get(channel)
        if returning is not None and event.get("type") in CHANNEL_ENDING:
            self._end(returning, ended=channel)

    def on_timer(self, channel: str, timer: int) -> None:
        """Return calls arm no timers."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        returning = self.calls.get(command.channel)
        if isinstance(command, Originate) and returning is not None:
            self._end(returning, ended=command.channel)  # e.g. the phone is not registered

    def lost(self, channel: str) -> None:
        returning = self.calls.get(channel)
        if returning is not None:
            self._end(returning, ended=channel)

    def _end(self, returning: ReturnCall, *, ended: str) -> None:
        legs = (returning.agent_leg, returning.patient_leg)
        if not [self.calls.pop(leg) for leg in legs if leg in self.calls]:
            return  # ended already
        for leg in legs:
            self.channels.release(leg)
        commands: list[Command] = [Hangup(leg) for leg in legs if leg != ended]
        commands.append(DeleteBridge(returning.agent_leg, f"frontdesk-r-{returning.call}"))
        self.executor.submit(returning.agent_leg, commands)
        self.feed(AgentOutsideCall(returning.agent, active=False))
        log.info("return_call.ended", call=returning.call, answered=returning.answered)
        self.hub.publish(
            events.ReturnCallEnded(returning.call, returning.agent, returning.answered)
        )

    def _claim(self, returning: ReturnCall, leg: str) -> None:
        self.calls[leg] = returning
        self.channels.claim(leg, self)
