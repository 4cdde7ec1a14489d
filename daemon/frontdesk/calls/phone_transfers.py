"""Calls an agent handed on with their phone's transfer button (SIP REFER).

Asterisk dials the target through a Local channel and swaps it into our conversation
bridge in place of the agent; that channel enters the app with `replace_channel`
(recorded on Asterisk 22.10.1: StasisStart, then ChannelLeftBridge/EnteredBridge, then
BridgeBlindTransfer or BridgeAttendedTransfer). The ACD's part ends there (the agent
goes to wrap-up: calls/acd_runtime.py `on_transfer_leg`), and the call becomes this
owner's until either side hangs up:

- the target answered and someone hangs up: the other side is hung up, the bridge goes;
- the target never answered (busy, no answer): the patient is neither left in silence
  nor dropped: the dialplan's fallback (`frontdesk-fallback`) rings the front desk.
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
from frontdesk.calls.commands import Command, ContinueInDialplan, DeleteBridge, Hangup
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub

log = structlog.get_logger("frontdesk.acd")

FALLBACK_CONTEXT = "frontdesk-fallback"  # dialplan/extensions.conf: ring the front desk


@dataclass
class Transfer:
    call: str  # the queued call's id (the conversation bridge is named after it)
    patient: str  # the patient's channel: the caller's, or a callback's patient leg
    leg: str  # the transfer's leg, in the agent's place
    answered: bool  # the target picked up


def conversation_bridge(call: str) -> str:
    return f"frontdesk-c-{call}"


class PhoneTransfers:
    def __init__(
        self,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        closed: Callable[[str], None],
    ) -> None:
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.closed = closed  # the call is over: the ACD forgets it
        self.calls: dict[str, Transfer] = {}  # by patient and by leg channel

    def take(self, transfer: Transfer, *, agent: str | None, target: str | None) -> None:
        """The agent's transfer leg replaced them in the bridge (`target`: the number
        dialled; None for an attended transfer until BridgeAttendedTransfer names it)."""
        for channel in (transfer.patient, transfer.leg):
            self.calls[channel] = transfer
            self.channels.claim(channel, self)
        log.info("acd.phone_transfer", call=transfer.call, agent=agent, target=target)
        how = "attended" if target is None else "blind"
        self.hub.publish(events.PhoneTransferred(transfer.call, agent, target, how))

    # -- the owner of the patient and the transfer leg -------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        transfer = self.calls.get(channel)
        if transfer is None:
            return
        kind = event.get("type")
        if kind == "BridgeAttendedTransfer":
            self._attended(transfer, event)
        elif kind == "ChannelStateChange" and channel == transfer.leg:
            transfer.answered = (event.get("channel") or {}).get("state") == "Up"
        elif kind in CHANNEL_ENDING and channel == transfer.leg:
            self._leg_ended(transfer)
        elif kind in CHANNEL_ENDING:
            self._close(transfer, hang_up=transfer.leg)

    def on_timer(self, channel: str, timer: int) -> None:
        """Transfers arm no timers."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        """Nothing to undo: hang-ups and the bridge's removal may find them gone."""

    def lost(self, channel: str) -> None:
        transfer = self.calls.get(channel)
        if transfer is not None and channel == transfer.patient:
            log.info("call.gone_while_disconnected", channel=channel, state="transferred")
            self._close(transfer, hang_up=transfer.leg)

    # -- endings ------------------------------------------------------------------------------
    def _leg_ended(self, transfer: Transfer) -> None:
        """Answered: the conversation is over, hang the patient up. Never answered: the
        dialplan's fallback rings the front desk."""
        if transfer.answered:
            self._close(transfer, hang_up=transfer.patient)
            return
        log.warning("acd.phone_transfer_failed", call=transfer.call)
        self.hub.publish(events.PhoneTransferFailed(transfer.call))
        fallback = ContinueInDialplan(transfer.patient, FALLBACK_CONTEXT, "s", 1)
        self.executor.submit(transfer.call, [fallback])
        self._close(transfer, hang_up=None, talked=False)

    def _close(self, transfer: Transfer, *, hang_up: str | None, talked: bool = True) -> None:
        """The transferred call is over: the other side (`hang_up`) and the bridge go."""
        for channel in (transfer.patient, transfer.leg):
            if self.calls.pop(channel, None) is not None:
                self.channels.release(channel)
        if talked:
            self.hub.publish(events.ConversationEnded(transfer.call))
        commands: list[Command] = [Hangup(hang_up)] if hang_up else []
        commands.append(DeleteBridge(transfer.call, conversation_bridge(transfer.call)))
        self.executor.submit(transfer.call, commands)
        self.closed(transfer.call)

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
