"""Every ARI event to the one owner of its channel.

`StasisStart` says who a channel is (calls/stasis.py reads its arguments): a new call
goes to the menu, our legs to the ACD or the destinations, a feature code to the ACD, a
channel swapped into our bridge to the ACD's transfer handling. Every later event goes
to whoever owns the channel then (calls/channels.py). Malformed and foreign events are
logged and skipped: one bad event never stops the loop for every call.
"""

from __future__ import annotations

from typing import Any

import structlog

from frontdesk.asterisk.ari import AriError
from frontdesk.asterisk.ari_events import channel_of
from frontdesk.calls import events
from frontdesk.calls.commands import Command, ContinueInDialplan, Hangup
from frontdesk.calls.parts import CallParts
from frontdesk.calls.stasis import Entered, Leg, read_stasis_start

log = structlog.get_logger("frontdesk.calls")
_RETURN_LEGS = frozenset({Leg.RETURN_AGENT, Leg.RETURN_PATIENT})


class CallDispatcher:
    def __init__(self, parts: CallParts) -> None:
        self.app = parts.ari.config.app
        self.channels = parts.channels
        self.executor = parts.executor
        self.menu, self.acd, self.destinations = parts.menu, parts.acd, parts.destinations
        self.returns = parts.returns
        self.hub, self.admission = parts.hub, parts.admission
        self.ari = parts.ari
        parts.executor.on_timer = self._timer
        parts.executor.on_failed = self._failed

    def dispatch(self, event: dict[str, Any]) -> None:
        """Route one ARI event to its owner; malformed or foreign events are skipped."""
        if not isinstance(event, dict):
            log.warning("calls.bad_event", event_type=type(event).__name__)
            return
        try:
            self._dispatch(event)
        except Exception:  # one bad event must never stop the loop for every call
            log.exception("calls.event_failed", event_type=event.get("type"))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ApplicationReplaced":  # another daemon's socket took the app
            log.error("calls.app_replaced", app=self.app)
            self.executor.fence("the app was taken over by another events socket")
            return
        if kind == "StasisStart":
            entered = read_stasis_start(event)
            if entered is not None:
                self._entered(entered)
            return
        channel = _subject(event)
        owner = self.channels.owner(channel) if channel is not None else None
        if owner is not None and channel is not None:
            owner.on_event(channel, event)

    def _entered(self, entered: Entered) -> None:
        if entered.replaced is not None:
            self._replacing(entered)
        elif entered.new_call:
            if entered.channel_id not in self.channels and self._admitted(entered):
                self.menu.start_call(entered.channel)  # (else a repeated StasisStart)
        elif entered.leg is Leg.TRANSFER and self.destinations is not None:
            self.destinations.leg_answered(entered)
        elif entered.leg is Leg.HANDOVER and self.acd is not None:
            self.acd.transfers.leg_answered(entered)
        elif entered.leg in _RETURN_LEGS and self.returns is not None:
            self.returns.leg_answered(entered)
        elif entered.leg is not None and self.acd is not None:
            self.acd.leg_answered(entered)
        elif entered.feature is not None and self.acd is not None:
            self.acd.agents.feature_call(entered)

    def ari_backlog(self) -> int:
        return self.ari.in_flight

    def _admitted(self, entered: Entered) -> bool:
        """Admission control (calls/admission.py): past its limits, frontdesk hands a new
        call straight back to the dialplan, whose fallback rings the front desk, as when
        frontdesk is down; the calls it already has keep their service."""
        if self.admission is None:
            return True
        verdict = self.admission.judge(entered.channel, len(self.channels), self.ari_backlog())
        if verdict.admitted:
            return True
        channel, reason = entered.channel_id, verdict.reason or "overloaded"
        self.executor.submit(channel, [ContinueInDialplan(channel)])
        self._shed(channel, reason, self.admission.should_log())
        return False

    def shed_in_dialplan(self, call: str) -> None:
        """The dialplan sent a new call to the fallback itself while we are overloaded
        (AMI UserEvent `FrontdeskShed`, calls/admission.py): counted like ours."""
        if self.admission is not None:
            self._shed(call, "dialplan", self.admission.shed_in_dialplan())

    def _shed(self, call: str, reason: str, logging: tuple[bool, int]) -> None:
        if self.hub is not None:
            self.hub.publish(events.CallShed(call, reason))
        log_now, unlogged = logging
        # Never a line per call: a flood would drown the log too.
        if log_now and self.admission is not None:
            admission = self.admission.admission
            signals = {k: round(v, 3) for k, v in admission.signals().items()}
            signals["ari_backlog"] = self.ari.in_flight
            signals["share_taken"] = round(admission.admit_ratio, 2)
            log.warning("calls.shed", reason=reason, channels=len(self.channels),
                        shed_since_last_line=unlogged, **signals)  # fmt: skip

    def _replacing(self, entered: Entered) -> None:
        """A channel Asterisk swapped into one of our bridges (a phone's transfer button):
        a leg of a call we have, never a new call. One we cannot place is hung up rather
        than given the menu in the middle of a conversation."""
        if self.acd is not None and self.acd.on_transfer_leg(entered):
            return
        leg = entered.channel_id
        replaced = (entered.replaced or {}).get("name")
        log.warning("calls.unknown_replacement", channel=leg, replaced=replaced)
        self.executor.submit(leg, [Hangup(leg)])

    # -- from the executor ------------------------------------------------------------------
    def _timer(self, lane: str, timer: int) -> None:
        owner = self.channels.owner(lane)
        if owner is not None:
            owner.on_timer(lane, timer)

    def _failed(self, lane: str, command: Command, exc: AriError) -> None:
        owner = self.channels.owner(lane) or self.channels.owner(command.channel)
        if owner is not None:
            owner.request_failed(command, exc)


def _subject(event: dict[str, Any]) -> str | None:
    """The channel an event is about (a transfer's: the leg that was in our bridge)."""
    if event.get("type") == "BridgeAttendedTransfer":
        link = event.get("destination_link_first_leg")
        return str(link.get("id")) if isinstance(link, dict) else None
    return channel_of(event)
