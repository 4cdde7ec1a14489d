"""A staff phone's BLIND TRANSFER button (SIP REFER) while it talks in a Stasis bridge.

Recorded on Asterisk 22.10.1 (tests/asterisk/recorded/blind_transfer_from_agent_phone.jsonl):
Asterisk dials the target through a Local channel `Local/<to>@<context>-<n>;1`/`;2`. The
`;1` half enters the transferer's app (`StasisStart`, args [], `replace_channel` = the
transferer) and is swapped into the bridge in the transferer's place; `BridgeBlindTransfer`
follows, with the snapshots of before the swap. The `;2` half runs the dialplan, whose
`Dial` rings the target phone with its behaviour: ringing and answer show on `;1`
(`ChannelStateChange`, `Dial` with an empty dialstring); when `;2` ends (the target hung
up, or never answered) `;1` gets `CHANLOCALSTATUS` and a hangup request with `;2`'s cause.
The app never sees `;2` nor the target's channel. The transferer stays in the app, in no
bridge, until someone hangs it up; it is no longer the app's own channel, so that ends
with `StasisEnd` (no `ChannelDestroyed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frontdesk.emulator import bridging, originate
from frontdesk.emulator.clock import now
from frontdesk.emulator.dialplan import substitute
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ari_event
from frontdesk.emulator.model import BRIDGE_TECHNOLOGY, Bridge, Channel, Dialplan, Party

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

# Not recorded: Dial's DIALSTATUS by the callee's hangup cause (the emulator's originate
# mapping of flows e/e2/e3), and Dial's cause for an unreachable phone (no route).
DIAL_STATUS = {17: "BUSY", 21: "NOANSWER", 19: "NOANSWER"}
UNAVAILABLE_CAUSE = 3


@dataclass(frozen=True)
class Transfer:
    local: Channel  # `;1`: in the app and the bridge
    local2: Channel  # `;2`: runs the dialplan
    target: Channel | None  # the rung phone (None: unreachable, Dial gives CHANUNAVAIL)

    def json(self) -> dict[str, str | None]:
        return {
            "local_channel_id": self.local.id,
            "local_channel": self.local.name,
            "target_channel_id": self.target.id if self.target else None,
            "target_channel": self.target.name if self.target else None,
        }


@dataclass(frozen=True)
class DialStep:
    resource: str  # the phone: PJSIP/<resource>
    data: str  # Dial's arguments as run
    timeout: int  # seconds; -1: none


def blind_transfer(pbx: Pbx, channel_id: str, to: str) -> Transfer:
    """The phone of `channel_id` (bridged with one other channel in a Stasis mixing bridge)
    transfers that channel to extension `to` of its endpoint's context."""
    transferer, transferee, bridge, app = talking_pair(pbx, channel_id)
    context = context_of(pbx, transferer)
    dial = dial_step(pbx, context, to)
    before = (transferer.json(), transferee.json(), bridge.json())

    pbx.emit_channel(transferer, "ChannelUnhold")
    pbx.ami_channel("Unhold", transferer)
    pbx.set_var(transferer, "BLINDTRANSFER", transferee.name)
    pbx.set_var(transferee, "BLINDTRANSFER", transferer.name)
    local, local2 = _local_pair(pbx, to, context)
    replaced = local.json()  # as BridgeBlindTransfer shows it: not yet in Stasis
    pbx.set_dialplan_app(local, "Stasis", app)
    transferer.owner_app = None  # swapped out: the app keeps it only until its StasisEnd
    pbx.enter_stasis(local, app, [], replace=transferer)
    bridging.swap(pbx, bridge, transferer, local)
    pbx.set_var(local, "BLINDTRANSFER", "")
    for round_ in range(4):  # as recorded: four rounds, connected lines after 1 and 2
        bridging.set_peer_vars(pbx, local, transferee)
        bridging.set_peer_vars(pbx, transferee, local)
        if round_ == 0:
            pbx.set_connected(local, transferee.caller)
        elif round_ == 1:
            pbx.set_connected(transferee, local.caller)
    body: list[tuple[str, Any]] = [
        ("channel", before[0]),
        ("exten", to),
        ("context", context),
        ("result", "Success"),
        ("is_external", True),  # asked for by the channel driver (REFER), not a DTMF feature
        ("transferee", before[1]),
        ("replace_channel", replaced),
        ("bridge", before[2]),
    ]
    sources = [f"channel:{transferer.id}", f"bridge:{bridge.id}", f"channel:{transferee.id}"]
    pbx.emit(ari_event("BridgeBlindTransfer", body, sources, stasis=True))
    bridge.technology = BRIDGE_TECHNOLOGY[bridge.bridge_type]  # no native RTP with Local
    target = _dial(pbx, local, local2, transferee, dial)
    return Transfer(local, local2, target)


def talking_pair(pbx: Pbx, channel_id: str) -> tuple[Channel, Channel, Bridge, str]:
    """The transferer, the channel it talks with, their Stasis mixing bridge and the app:
    KeyError for an unknown (or ending) channel, ValueError when it is not so bridged."""
    transferer = pbx.channels.get(channel_id)
    if transferer is None or transferer.hangup_requested:
        raise KeyError(channel_id)
    app = transferer.stasis_app
    bridge = pbx.bridges.get(transferer.bridge_id or "")
    if app is None or bridge is None or bridge.bridge_type != "mixing":
        raise ValueError(f"{channel_id} is not talking in a Stasis mixing bridge")
    if len(bridge.channels) != 2:
        raise ValueError(f"{channel_id} is not bridged with exactly one other channel")
    transferee = pbx.channels[next(c for c in bridge.channels if c != transferer.id)]
    return transferer, transferee, bridge, app


def context_of(pbx: Pbx, ch: Channel) -> str:
    """Where the transfer's extension is looked up: the transferer endpoint's context."""
    phone = pbx.phones.get(ch.endpoint.removeprefix("PJSIP/"))
    if phone is not None and ch.tech == "PJSIP":
        return phone.context
    return pbx.config.staff_context


def dial_step(pbx: Pbx, context: str, to: str) -> DialStep:
    """The `Dial(PJSIP/<phone>[,timeout])` the target extension runs (checked up front:
    Asterisk refuses a REFER to an extension that does not exist, and nothing happens)."""
    steps = pbx.dialplan.steps(context, to) if to else None
    if steps is None:
        raise KeyError(f"extension {to!r} in context {context!r}")
    data = next((d for app, d in steps if app.lower() == "dial"), None)
    if data is None:
        raise ValueError(f"{to}@{context} does not Dial a phone")
    data = substitute(data, {"EXTEN": to, "CONTEXT": context})
    device, _, options = data.partition(",")
    tech, _, resource = device.partition("/")
    if tech.upper() != "PJSIP" or not resource or "&" in device:
        raise ValueError(f"{to}@{context} dials {device!r}, not one PJSIP phone")
    timeout = options.split(",")[0].strip()
    return DialStep(resource, data, int(timeout) if timeout.isdigit() else -1)


def local_pair(
    pbx: Pbx, exten: str, context: str, caller: Party | None = None
) -> tuple[Channel, Channel]:
    """A Local channel's two halves (`Local/<exten>@<context>-<suffix>;1` and `;2`), Down;
    `caller`: the `;1` half's caller ID. `;1` knows `;2` as its far end."""
    endpoint = f"Local/{exten}@{context}"
    suffix = pbx.ids.local_suffix()
    halves = []
    for half in (1, 2):
        ch = Channel(
            pbx.ids.unique_id(),
            f"{endpoint}-{suffix};{half}",
            endpoint,
            "Down",
            "",
            (caller or Party()) if half == 1 else Party(),
            Dialplan(context, exten, 1),
            now(),
        )
        pbx.add_channel(ch)
        halves.append(ch)
    halves[0].far_end = halves[1].id
    return halves[0], halves[1]


def _local_pair(pbx: Pbx, to: str, context: str) -> tuple[Channel, Channel]:
    local, local2 = local_pair(pbx, to, context)
    local.on_destroyed = lambda _: first_half_gone(pbx, local2)
    local2.on_destroyed = lambda gone: second_half_gone(pbx, local, gone)
    return local, local2


def _dial(
    pbx: Pbx, local: Channel, local2: Channel, transferee: Channel, dial: DialStep
) -> Channel | None:
    """`;2` runs `Dial`: the phone rings (so does `;1`), or it cannot be reached."""
    pbx.set_dialplan_app(local2, "Dial", dial.data)
    try:
        target = originate.dial_phone(
            pbx,
            f"PJSIP/{dial.resource}",
            dial.timeout,
            transferee.caller,
            lambda answered: _answered(pbx, local, local2) if answered else None,
        )
    except AriError:
        pbx.set_var(local2, "DIALSTATUS", "CHANUNAVAIL")
        pbx.later(local2, 0.0, _dial_returned, pbx, local2, UNAVAILABLE_CAUSE)
        return None
    target.on_destroyed = lambda gone: _callee_gone(pbx, local2, gone)
    local2.far_end = target.id
    phone = pbx.phones[target.endpoint.removeprefix("PJSIP/")]
    local.caller = Party(phone.callerid.name, phone.callerid.number)  # the rung phone's id
    pbx.set_state(local, "Ringing")
    pbx.set_caller(local, local.caller)
    pbx.dial_event(local, "RINGING")
    pbx.set_connected(transferee, local.caller)
    return target


def _answered(pbx: Pbx, local: Channel, local2: Channel) -> None:
    pbx.set_state(local2, "Up")
    pbx.set_state(local, "Up")
    pbx.dial_event(local, "ANSWER")


def _callee_gone(pbx: Pbx, local2: Channel, callee: Channel) -> None:
    """The target phone's channel ended (BYE after answering, 486/603, no answer): Dial
    returns and `;2` runs on to `Hangup()`."""
    if local2.hangup_requested:
        return
    if callee.answered_at is not None:
        status, cause = "ANSWER", 16
    else:
        status = DIAL_STATUS.get(callee.hangup_cause or 0, "NOANSWER")
        cause = callee.hangup_cause or 16
    pbx.set_var(local2, "DIALSTATUS", status)
    _dial_returned(pbx, local2, cause)


def _dial_returned(pbx: Pbx, local2: Channel, cause: int) -> None:
    pbx.set_dialplan_app(local2, "Hangup", "")
    pbx.hangup(local2, cause=cause)


def second_half_gone(pbx: Pbx, local: Channel, local2: Channel) -> None:
    """`;2` hung up: `;1` learns how its Dial went (chan_local), then hangs up with the
    same cause; a still-ringing or talking target is hung up too."""
    target = pbx.channels.get(local2.far_end or "")
    if target is not None:
        pbx.hangup(target, cause=16, dial_status=None if target.answered_at else "CANCEL")
    if local.hangup_requested or local.destroyed:
        return
    status = local2.variables.get("DIALSTATUS")
    if status:
        pbx.set_var(local, "CHANLOCALSTATUS", status)
    cause = local2.hangup_cause or 16
    pbx.hangup(local, cause=cause, request=[("cause", cause)])


def first_half_gone(pbx: Pbx, local2: Channel) -> None:
    """`;1` hung up (the app's DELETE, or its caller left): `;2` and its Dial end."""
    if not local2.hangup_requested and not local2.destroyed:
        pbx.hangup(local2, cause=16)


def far_end(pbx: Pbx, ch: Channel) -> Channel:
    """The channel that really hangs up when the world ends `ch`: for a transfer's Local
    half, the phone its `;2` rings (or `;2` itself once that phone is gone)."""
    seen = {ch.id}
    while ch.far_end is not None and ch.far_end not in seen:
        nxt = pbx.channels.get(ch.far_end)
        if nxt is None or nxt.hangup_requested:
            break
        seen.add(nxt.id)
        ch = nxt
    return ch
