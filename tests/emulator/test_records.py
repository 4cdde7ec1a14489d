"""CDR fields and the RTCP summary variables, against the recorded texts."""

from __future__ import annotations

import random

from frontdesk.emulator.model import Channel, Dialplan, Party
from frontdesk.emulator.records import cdr_fields, disposition, rtp_qos_values
from tests.emulator.helpers import transcript


def test_rtp_qos_values_have_the_recorded_layout() -> None:
    ours = dict(rtp_qos_values(random.Random(1)))
    flow = transcript("flow_j_channel_variables.jsonl")
    recorded = {
        r["event"]["variable"]: r["event"]["value"]
        for r in flow
        if r["kind"] == "ari_event" and r["event"].get("variable", "").startswith("RTPAUDIOQOS")
    }
    assert list(ours) == list(recorded)
    for name in ("RTPAUDIOQOSJITTER", "RTPAUDIOQOSLOSS", "RTPAUDIOQOSRTT", "RTPAUDIOQOSMES"):
        assert ours[name] == recorded[name]
    assert [p.split("=")[0] for p in ours["RTPAUDIOQOS"].split(";")] == [
        p.split("=")[0] for p in recorded["RTPAUDIOQOS"].split(";")
    ]


def test_cdr_fields() -> None:
    ch = Channel(
        "pbx-1.0",
        "PJSIP/trunk-00000000",
        "PJSIP/trunk",
        "Up",
        "1-1@127.0.0.1",
        Party("PSTN Caller", "+13125550101"),
        Dialplan("from-pstn", "5550301", 2, "Stasis", "frontdesk"),
        created=100.0,
        answered_at=101.0,
        last_app="Stasis",
        last_data="frontdesk",
    )
    fields = dict(cdr_fields(ch, 112.5))
    assert fields["CallerID"] == '"PSTN Caller" <+13125550101>'
    assert (fields["Duration"], fields["BillableSeconds"]) == ("12", "11")
    assert fields["Disposition"] == "ANSWERED"
    ch.answered_at, ch.hangup_cause = None, 17
    assert disposition(ch) == "BUSY"
    ch.hangup_cause = 19
    assert disposition(ch) == "NO ANSWER"
