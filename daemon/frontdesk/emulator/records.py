"""What a channel leaves behind: the AMI CDR (cdr_manager) and the RTCP summary variables."""

from __future__ import annotations

import random
from datetime import UTC, tzinfo

from frontdesk.emulator.clock import cdr_time
from frontdesk.emulator.events import escape_c
from frontdesk.emulator.model import Channel

ZEROS = "000.000000"


def cdr_fields(ch: Channel, end: float, zone: tzinfo = UTC) -> list[tuple[str, str]]:
    """The Cdr of `ch`; its times in the PBX's local time (`zone`), without a zone."""
    answered = ch.answered_at
    return [
        ("AccountCode", ch.accountcode),
        ("Source", escape_c(ch.caller.number)),
        ("Destination", ch.dialplan.exten),
        ("DestinationContext", ch.dialplan.context),
        ("CallerID", ch.caller.callerid_all()),
        ("Channel", ch.name),
        ("DestinationChannel", ch.peer_name),
        ("LastApplication", ch.last_app),
        ("LastData", ch.last_data),
        ("StartTime", cdr_time(ch.created, zone)),
        ("AnswerTime", cdr_time(answered, zone)),
        ("EndTime", cdr_time(end, zone)),
        ("Duration", str(int(end - ch.created))),
        ("BillableSeconds", str(int(end - answered)) if answered else "0"),
        ("Disposition", disposition(ch)),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", ch.id),
        ("UserField", ""),
    ]


def disposition(ch: Channel) -> str:
    if ch.answered_at is not None:
        return "ANSWERED"
    return "BUSY" if ch.hangup_cause == 17 else "NO ANSWER"


def rtp_qos_values(rng: random.Random) -> list[tuple[str, str]]:
    """The five RTCP summary variables chan_pjsip sets when an RTP channel hangs up."""
    return [
        (
            "RTPAUDIOQOS",
            f"ssrc={rng.randrange(1 << 31)};themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;"
            f"txjitter=0.000000;txcount={rng.randrange(20, 400)};rlp=0;rtt=0.000000;"
            "rxmes=0.000000;txmes=0.000000",
        ),
        ("RTPAUDIOQOSJITTER", _stats("", ["rxjitter", "txjitter"])),
        ("RTPAUDIOQOSLOSS", _stats("  ", ["rxlost", "txlost"])),
        ("RTPAUDIOQOSRTT", _stats("     ", ["rtt"])),
        ("RTPAUDIOQOSMES", _stats("   ", ["rxmes", "txmes"])),
    ]


def _stats(pad: str, bases: list[str]) -> str:
    names = [f"{kind}{base}" for base in bases for kind in ("min", "max", "avg", "stdev")]
    return "".join(f"{pad}{name}={ZEROS};" for name in names)
