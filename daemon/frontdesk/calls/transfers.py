"""Calls that staff hand on: with the phone's transfer button, or through frontdesk.

- **The phone's transfer button** (SIP REFER, blind or attended): Asterisk dials the
  target through a Local channel and swaps it into our conversation bridge in place of
  the agent; that channel enters the app with `replace_channel` (recorded on Asterisk
  22.10.1: StasisStart, then ChannelLeftBridge/EnteredBridge, then BridgeBlindTransfer
  or BridgeAttendedTransfer).
- **Through frontdesk** to a colleague or an external number of the plan (agent page,
  API: calls/acd_runtime.py `transfer_to_agent`/`transfer_to_external`): the agent
  leaves, the patient hears music in the conversation bridge while frontdesk rings the
  target (Stasis args `handover,<call>`); when it answers it joins the bridge.

Either way the agent's part ends there (wrap-up) and the call is this owner's until
either side hangs up:

- the target answered and someone hangs up: the other side is hung up, the bridge goes;
- the target never answered (busy, no answer, unreachable): the patient is neither left
  in silence nor dropped: they go back to the transferring agent's queue, at the front
  (`requeue`); a callback's patient, who has no place in a queue, goes to the dialplan's
  fallback (`frontdesk-fallback`: the front desk's phones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from frontdesk.asterisk.ari import AriError
from frontdesk.asterisk.ari_events import CHANNEL_ENDING
from frontdesk.calls import events
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import (
    AddToBridge,
    BridgeMusic,
    Command,
    DeleteBridge,
    Hangup,
    Originate,
)
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.stasis import Entered

log = structlog.get_logger("frontdesk.acd")


@dataclass
class Transfer:
    call: str  # the queued call's id (the conversation bridge is named after it)
    patient: str  # the patient's channel: the caller's, or a callback's patient leg
    leg: str  # the transfer's leg, in the agent's place
    answered: bool  # the target picked up
    dialled: bool = False  # frontdesk rings the target: it joins the bridge on answer


def conversation_bridge(call: str) -> str:
    return f"frontdesk-c-{call}"


class Transfers:
    def __init__(
        self,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        closed: Callable[[str], None],
        unanswered: Callable[[Transfer], None],
    ) -> None:
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.closed = closed  # the call is over: the ACD forgets it
        self.unanswered = unanswered  # nobody took it: the ACD takes the patient back
        self.calls: dict[str, Transfer] = {}  # by patient and by leg channel

    def take(self, transfer: Transfer) -> None:
        """The call is handed on: this owner has the patient and the transfer's leg."""
        for channel in (transfer.patient, transfer.leg):
            self.calls[channel] = transfer
            self.channels.claim(channel, self)

    def leg_answered(self, entered: Entered) -> None:
        """The target frontdesk rang picked up: into the bridge, the music stops."""
        transfer = self.calls.get(entered.channel_id)
        if transfer is None or transfer.call != entered.of_call:
            self.executor.submit(entered.channel_id, [Hangup(entered.channel_id)])
            return
        transfer.answered = True
        bridge = conversation_bridge(transfer.call)
        log.info("acd.transfer_answered", call=transfer.call)
        self.executor.submit(
            transfer.call,
            [BridgeMusic(transfer.call, bridge, on=False), AddToBridge(transfer.leg, bridge)],
        )

    # -- the owner of the patient and the transfer leg -------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        transfer = self.calls.get(channel)
        if transfer is None:
            return
        kind = event.get("type")
        if kind == "BridgeAttendedTransfer":
            self._attended(transfer, event)
        elif kind == "ChannelStateChange" and channel == transfer.leg and not transfer.dialled:
            transfer.answered = (event.get("channel") or {}).get("state") == "Up"
        elif kind in CHANNEL_ENDING and channel == transfer.leg:
            self._leg_ended(transfer)
        elif kind in CHANNEL_ENDING:
            self._close(transfer, hang_up=transfer.leg)

    def on_timer(self, channel: str, timer: int) -> None:
        """Transfers arm no timers."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        """Dialling the target failed (e.g. its phone is not registered): not answered."""
        transfer = self.calls.get(command.channel)
        if isinstance(command, Originate) and transfer is not None:
            self._leg_ended(transfer)

    def lost(self, channel: str) -> None:
        transfer = self.calls.get(channel)
        if transfer is not None and channel == transfer.patient:
            log.info("call.gone_while_disconnected", channel=channel, state="transferred")
            self._close(transfer, hang_up=transfer.leg)

    # -- endings ------------------------------------------------------------------------------
    def _leg_ended(self, transfer: Transfer) -> None:
        """Answered: the conversation is over, hang the patient up. Never answered: the
        patient goes back to the ACD (`unanswered`)."""
        if transfer.answered:
            self._close(transfer, hang_up=transfer.patient)
            return
        log.warning("acd.transfer_failed", call=transfer.call)
        self.hub.publish(events.PhoneTransferFailed(transfer.call))
        self._release(transfer)
        self.unanswered(transfer)

    def _close(self, transfer: Transfer, *, hang_up: str | None) -> None:
        """The transferred call is over: the other side (`hang_up`) and the bridge go."""
        self._release(transfer)
        self.hub.publish(events.ConversationEnded(transfer.call))
        commands: list[Command] = [Hangup(hang_up)] if hang_up else []
        commands.append(DeleteBridge(transfer.call, conversation_bridge(transfer.call)))
        self.executor.submit(transfer.call, commands)
        self.closed(transfer.call)

    def _release(self, transfer: Transfer) -> None:
        for channel in (transfer.patient, transfer.leg):
            if self.calls.pop(channel, None) is not None:
                self.channels.release(channel)

    def _attended(self, transfer: Transfer, event: dict[str, Any]) -> None:
        """BridgeAttendedTransfer: who the agent handed the patient to (the colleague's
        leg is `transfer_target`), recorded with the call once the swap is done."""
        if event.get("result") != "Success":
            return
        name = str((event.get("transfer_target") or {}).get("name", ""))
        target = extension_of(name) if name else None
        self.hub.publish(events.PhoneTransferTarget(transfer.call, target))


def transfer_target(channel: dict[str, Any]) -> str | None:
    """`2005` of `Local/2005@staff-00000001;1`: the number the agent transferred to; None
    for an attended transfer's `Local/_attended@transfer-…` (named later)."""
    name = str(channel.get("name", ""))
    if name.startswith("Local/_attended@"):
        return None
    return name.removeprefix("Local/").split("@", 1)[0] if name.startswith("Local/") else name


def extension_of(name: str) -> str:
    """`2005` of the channel name `PJSIP/2005-0000001a`."""
    return name.removeprefix("PJSIP/").rsplit("-", 1)[0]
