"""What the outside world does to the PBX: PSTN calls arrive, callers press keys and hang up."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from frontdesk.emulator import execution, media, transfer
from frontdesk.emulator.clock import now
from frontdesk.emulator.errors import CallRefused
from frontdesk.emulator.model import Channel, Dialplan, Party
from frontdesk.emulator.rtp_events import Rfc4733Stream, press_packets

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

DTMF_DIGITS = frozenset("0123456789*#ABCD")


def place_call(
    pbx: Pbx,
    caller: str,
    did: str,
    caller_name: str = "PSTN Caller",
    headers: Mapping[str, str] | None = None,
) -> str:
    """A trunk call to `did` enters the dialplan (by default: straight into Stasis).

    `headers`: extra headers of the INVITE, readable as `PJSIP_HEADER(read,<name>)`."""
    if pbx.shutting_down:
        raise CallRefused("503 Service Unavailable: Asterisk is shutting down")
    context = pbx.config.trunk_context
    if pbx.dialplan.steps(context, did) is None:
        raise CallRefused(f"404 Not Found: no extension {did!r} in context {context!r}")
    ch = Channel(
        pbx.ids.unique_id(),
        f"PJSIP/trunk-{pbx.ids.pjsip_suffix()}",
        "PJSIP/trunk",
        "Ring",
        pbx.ids.inbound_call_id(),
        Party(caller_name, caller),
        Dialplan(context, did, 1),
        now(),
    )
    ch.sip_headers = {str(k): str(v) for k, v in (headers or {}).items()}
    pbx.add_channel(ch)
    pbx.set_var(ch, "SIPDOMAIN", "127.0.0.1")
    execution.run(pbx, ch)
    return ch.id


async def press(pbx: Pbx, channel_id: str, digits: str, gap: float = 0.05) -> None:
    """RFC 4733 digits from the far end: AMI DTMFBegin/End, ARI ChannelDtmfReceived."""
    bad = set(digits) - DTMF_DIGITS
    if bad:
        raise ValueError(f"not DTMF digits: {''.join(sorted(bad))}")
    for index, digit in enumerate(digits):
        ch = pbx.channels.get(channel_id)
        if ch is None or ch.hangup_requested:
            raise KeyError(channel_id)
        dtmf(pbx, ch, digit)
        if index < len(digits) - 1:
            await asyncio.sleep(gap)


def press_rtp(pbx: Pbx, channel_id: str, presses: list[tuple[str, int, int]]) -> list[str]:
    """Keys sent as RTP (key, first sequence number, timestamp each), taken the way
    Asterisk takes them (rtp_events): an older or repeated event is dropped. The keys
    heard, which reach the app as ChannelDtmfReceived."""
    ch = pbx.channels.get(channel_id)
    if ch is None or ch.hangup_requested:
        raise KeyError(channel_id)
    stream = pbx.rtp_events.setdefault(channel_id, Rfc4733Stream())
    heard: list[str] = []
    for key, seq, timestamp in presses:
        if key not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {key}")
        for digit in stream.hear_all(press_packets(key, seq, timestamp)):
            dtmf(pbx, ch, digit)
            heard.append(digit)
    return heard


def dtmf(pbx: Pbx, ch: Channel, digit: str) -> None:
    duration = pbx.config.dtmf_duration_ms
    pbx.ami_channel("DTMFBegin", ch, [("Digit", digit), ("Direction", "Received")], "dtmf")
    end = [("Digit", digit), ("DurationMs", str(duration)), ("Direction", "Received")]
    pbx.ami_channel("DTMFEnd", ch, end, "dtmf")
    pbx.emit_channel(ch, "ChannelDtmfReceived", [("digit", digit), ("duration_ms", duration)])
    media.on_dtmf(pbx, ch, digit)


def caller_hangup(pbx: Pbx, channel_id: str) -> None:
    """The caller sends BYE: ChannelHangupRequest without cause; AMI Hangup Cause 0.
    A transfer's Local channel gets no BYE: the phone it rings hangs up instead."""
    pbx.hangup(transfer.far_end(pbx, pbx.channel(channel_id)), cause=0, request=[])


def far_hangup(pbx: Pbx, channel_id: str) -> None:
    """The far end of an originated leg sends BYE: AMI Hangup Cause 16 (flow h)."""
    pbx.hangup(transfer.far_end(pbx, pbx.channel(channel_id)), cause=16, request=[])
