"""A staff phone's ATTENDED TRANSFER while it talks in a Stasis bridge: the agent calls a
colleague from the phone (outside the app), then completes the transfer (SIP REFER on the
first call, `Refer-To: <colleague?Replaces=<the consultation call>>`).

Recorded on Asterisk 22.10.1 with frontdesk running (tests/asterisk/recorded/
attended_transfer_from_agent_phone.jsonl). The app sees nothing of the consultation (the
agent's second call runs `Dial(PJSIP/<colleague>)` in the staff context and talks with the
colleague in a basic bridge). At the REFER: `ChannelUnhold` of the agent, `ATTENDEDTRANSFER`
on the agent and the caller; half a second later `Local/_attended@transfer-<n>;1` enters
the app (`StasisStart`, args [], state Down, caller id = the colleague's, `replace_channel`
= the agent) and takes the agent's place in the bridge, while `;2` takes the agent's
second call's place beside the colleague. `;1` is Up at once (`Dial` ANSWER: the colleague
is already on the line), then `BridgeAttendedTransfer` names every party. When the
colleague hangs up, `;2` ends and `;1` gets a hangup request (cause 16): no
`CHANLOCALSTATUS`, `;2` ran no Dial. The agent's swapped-out channel stays in the app, as
after a blind transfer, until someone hangs it up (recorded: frontdesk's DELETE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frontdesk.emulator import bridging
from frontdesk.emulator.clock import Ids, ari_time, now
from frontdesk.emulator.events import ari_event
from frontdesk.emulator.model import (
    BRIDGE_TECHNOLOGY,
    Bridge,
    Channel,
    Dialplan,
    JsonDict,
    Party,
    Phone,
)
from frontdesk.emulator.transfer import (
    context_of,
    dial_step,
    first_half_gone,
    local_pair,
    second_half_gone,
    talking_pair,
)

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

# Recorded: the REFER's ChannelUnhold and ATTENDEDTRANSFER variables at t, the Local
# channel created at t + 1 ms, its StasisStart (and everything after it) at t + 502 ms.
SWAP_DELAY = 0.5


@dataclass
class Attended:
    app: str
    transferer: Channel  # the agent's first leg: in the app and the bridge
    transferee: Channel  # the caller (or a callback's patient leg)
    bridge: Bridge
    leg: Channel  # the agent's second call (the consultation), outside the app
    target: Channel  # the colleague's channel, outside the app
    consult_bridge: JsonDict  # their basic bridge, as ARI shows it
    local: Channel  # `;1`: enters the app in the agent's place
    local2: Channel  # `;2`: takes the second call's place beside the colleague
    before: dict[str, JsonDict] = field(default_factory=dict)  # snapshots at the REFER
    swapped: bool = False

    def json(self) -> dict[str, str]:
        return {
            "local_channel_id": self.local.id,
            "local_channel": self.local.name,
            "target_channel_id": self.target.id,
            "target_channel": self.target.name,
        }


def attended_transfer(pbx: Pbx, channel_id: str, to: str) -> Attended:
    """The phone of `channel_id` (bridged with one other channel in a Stasis mixing bridge)
    has called extension `to` of its context, the colleague answered, and now it completes
    the transfer. The swap happens `SWAP_DELAY` s later, as recorded."""
    transferer, transferee, bridge, app = talking_pair(pbx, channel_id)
    phone = pbx.phones.get(transferer.endpoint.removeprefix("PJSIP/"))
    if transferer.tech != "PJSIP" or phone is None or phone.static_contact:
        raise ValueError(f"{channel_id} is not a staff phone's channel")
    context = context_of(pbx, transferer)
    dial = dial_step(pbx, context, to)
    colleague = pbx.phones.get(dial.resource)
    if colleague is None or not colleague.reachable or colleague is phone:
        raise ValueError(f"{to}@{context}: PJSIP/{dial.resource} cannot take a consultation")
    leg, target = _consultation(pbx, phone, colleague, Dialplan(context, to, 1), dial.data)
    consult_bridge = _basic_bridge(leg, target)

    pbx.emit_channel(transferer, "ChannelUnhold")
    pbx.ami_channel("Unhold", transferer)
    pbx.set_var(transferer, "ATTENDEDTRANSFER", transferee.name)
    pbx.set_var(transferee, "ATTENDEDTRANSFER", transferer.name)
    local, local2 = _local_pair(pbx, target.caller)
    pbx.set_var(local, "ATTENDEDTRANSFER", transferer.name)  # not in the app yet: AMI only
    xfer = Attended(app, transferer, transferee, bridge, leg, target, consult_bridge, local, local2)
    # The transfer message's snapshots are taken as it starts (recorded: the bridge still
    # with the agent, the caller's connected line not yet the colleague).
    xfer.before = {
        "transferer": transferer.json(),
        "leg": leg.json(),
        "transferee": transferee.json(),
        "target": target.json(),
        "bridge": bridge.json(),
    }
    local2.far_end = target.id  # hanging `;1` or `;2` up from outside: the colleague does
    local.on_destroyed = lambda _: first_half_gone(pbx, local2)
    local2.on_destroyed = lambda gone: second_half_gone(pbx, local, gone)
    target.on_destroyed = lambda _: _colleague_gone(pbx, xfer)
    leg.on_destroyed = lambda _: _consultation_over(pbx, xfer)
    pbx.later(local, SWAP_DELAY, _swap, pbx, xfer)
    return xfer


def _consultation(
    pbx: Pbx, phone: Phone, colleague: Phone, dialplan: Dialplan, dial_data: str
) -> tuple[Channel, Channel]:
    """The agent's second call (`Dial` in the staff context) and the colleague's channel,
    both Up: the consultation is under way (outside the app)."""
    leg = Channel(
        pbx.ids.unique_id(),
        f"{phone.name}-{pbx.ids.pjsip_suffix()}",
        phone.name,
        "Ring",
        Ids.outbound_call_id(),  # the phone's Call-ID
        Party(phone.callerid.name, phone.callerid.number),
        dialplan,
        now(),
    )
    pbx.add_channel(leg)
    pbx.set_dialplan_app(leg, "Dial", dial_data)
    target = Channel(
        pbx.ids.unique_id(),
        f"{colleague.name}-{pbx.ids.pjsip_suffix()}",
        colleague.name,
        "Down",
        Ids.outbound_call_id(),
        Party(colleague.callerid.name, colleague.callerid.number),
        Dialplan(colleague.context, "", 1),  # recorded: an empty exten
        now(),
    )
    target.dialstring = colleague.resource
    pbx.add_channel(target)
    pbx.set_dialplan_app(target, "AppDial", "(Outgoing Line)")
    pbx.set_connected(target, leg.caller)
    pbx.set_state(target, "Up")
    pbx.set_connected(leg, target.caller)
    pbx.set_state(leg, "Up")
    return leg, target


def _basic_bridge(leg: Channel, target: Channel) -> JsonDict:
    """The consultation's bridge (Dial's, not the app's), as BridgeAttendedTransfer shows it."""
    return {
        "id": str(uuid.uuid4()),
        "technology": "native_rtp",
        "bridge_type": "mixing",
        "bridge_class": "basic",
        "creator": "",
        "name": "",
        "channels": [leg.id, target.id],
        "creationtime": ari_time(now()),
        "video_mode": "none",
    }


def _local_pair(pbx: Pbx, colleague: Party) -> tuple[Channel, Channel]:
    """bridge.c's `Local/_attended@transfer/m`, the colleague's caller ID on `;1`."""
    return local_pair(pbx, "_attended", "transfer", Party(colleague.name, colleague.number))


def _swap(pbx: Pbx, xfer: Attended) -> None:
    """Asterisk completes the transfer (all of it at once, as recorded)."""
    transferer, transferee, bridge, local = (
        xfer.transferer,
        xfer.transferee,
        xfer.bridge,
        xfer.local,
    )
    live = (transferer, transferee, xfer.leg, xfer.target, local, xfer.local2)
    if any(ch.hangup_requested for ch in live) or not (
        transferer.bridge_id == transferee.bridge_id == bridge.id and bridge.id in pbx.bridges
    ):
        _failed(pbx, xfer)
        return
    xfer.swapped = True
    pbx.set_dialplan_app(local, "Stasis", xfer.app)
    transferer.owner_app = None  # swapped out: the app keeps it only until its StasisEnd
    pbx.enter_stasis(local, xfer.app, [], replace=transferer)
    bridging.swap(pbx, bridge, transferer, local)
    pbx.set_var(local, "ATTENDEDTRANSFER", "")
    _peer_round(pbx, local, transferee)
    pbx.set_connected(local, transferee.caller)
    _join_colleague(pbx, xfer)
    pbx.set_state(local, "Up")
    pbx.dial_event(local, "ANSWER")
    for _ in range(2):  # as recorded: three rounds in all, connected lines around them
        _peer_round(pbx, local, transferee)
    pbx.set_connected(transferee, local.caller)
    body: list[tuple[str, Any]] = [
        ("transferer_first_leg", xfer.before["transferer"]),
        ("transferer_second_leg", xfer.before["leg"]),
        ("result", "Success"),
        ("is_external", False),  # as recorded (a blind REFER's is true)
        ("transferee", xfer.before["transferee"]),
        ("transfer_target", xfer.before["target"]),
        ("transferer_first_leg_bridge", xfer.before["bridge"]),
        ("transferer_second_leg_bridge", xfer.consult_bridge),
        ("destination_type", "link"),
        ("destination_link_first_leg", local.json()),
        ("destination_link_second_leg", xfer.local2.json()),
    ]
    sources = [
        f"channel:{transferer.id}",
        f"bridge:{bridge.id}",
        f"channel:{transferee.id}",
        f"channel:{local.id}",
    ]
    pbx.emit(ari_event("BridgeAttendedTransfer", body, sources, stasis=True))
    bridge.technology = BRIDGE_TECHNOLOGY[bridge.bridge_type]  # no native RTP with Local
    # Asterisk hangs the agent's second call up; its phone's channel to the caller stays.
    xfer.leg.on_destroyed = None
    pbx.hangup(xfer.leg, cause=16)


def _peer_round(pbx: Pbx, local: Channel, transferee: Channel) -> None:
    bridging.set_peer_vars(pbx, local, transferee)
    bridging.set_peer_vars(pbx, transferee, local)


def _join_colleague(pbx: Pbx, xfer: Attended) -> None:
    """`;2` replaces the agent's second call beside the colleague (outside the app)."""
    local2, target = xfer.local2, xfer.target
    local2.caller = Party(xfer.transferee.caller.name, xfer.transferee.caller.number)
    pbx.set_connected(local2, target.caller)
    pbx.set_state(local2, "Up")
    pbx.set_connected(target, local2.caller)


def _colleague_gone(pbx: Pbx, xfer: Attended) -> None:
    """The colleague hung up: after the swap `;2` ends (and with it `;1`); before it the
    consultation is over (and the transfer will fail)."""
    ending = xfer.local2 if xfer.swapped else xfer.leg
    if not ending.hangup_requested and not ending.destroyed:
        pbx.hangup(ending, cause=16)


def _consultation_over(pbx: Pbx, xfer: Attended) -> None:
    """The agent's second call ended before the swap: so does the colleague's."""
    if not xfer.target.hangup_requested and not xfer.target.destroyed:
        pbx.hangup(xfer.target, cause=16)


def _failed(pbx: Pbx, xfer: Attended) -> None:
    """Not recorded: a party left between the REFER and the swap. The Local pair (not yet in
    the app) is torn down; the calls still up stay as they are."""
    for ch in (xfer.local, xfer.local2):
        ch.on_destroyed = None
        if not ch.hangup_requested and not ch.destroyed:
            pbx.hangup(ch, cause=16)
