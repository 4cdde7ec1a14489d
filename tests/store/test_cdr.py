"""AMI `Cdr` -> `CallUpsert` (pure; no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.asterisk.ami_codec import AmiCodec, Event
from frontdesk.store.cdr import cdr_key, cdr_upsert
from frontdesk.store.records import CALL_FIELDS, CallUpsert, from_json, to_json

TRANSCRIPTS = Path(__file__).parents[2] / "../shared/asterisk/transcripts"
LAB = ZoneInfo("UTC")  # the lab's Asterisk ran in UTC
CHICAGO = ZoneInfo("America/Chicago")


def _cdrs(name: str) -> list[Event]:
    """The file's Cdr events, decoded from the raw bytes as the AMI client would."""
    path = TRANSCRIPTS / name
    if not path.is_file():
        pytest.skip(f"recorded transcripts not available ({TRANSCRIPTS} is missing)")
    codec = AmiCodec(expect_banner=False)
    out: list[Event] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["kind"] == "ami_event" and record["event"].get("Event") == "Cdr":
            (event,) = codec.feed(record["raw"].encode())
            assert isinstance(event, Event)
            out.append(event)
    return out


def _event(**fields: str) -> Event:
    return Event((("Event", "Cdr"), *fields.items()))


def _caller_cdr(**over: str) -> Event:
    fields = {
        "Privilege": "cdr,all",
        "Source": "+13125550123",
        "Destination": "+13125550000",
        "DestinationContext": "from-pstn",
        "CallerID": '"Jane \\"JJ\\" Doe" <+13125550123>',
        "Channel": "PJSIP/trunk-0000000a",
        "DestinationChannel": "PJSIP/2003-0000000b",
        "LastApplication": "Stasis",
        "LastData": "frontdesk",
        "StartTime": "2026-03-08 01:59:50",
        "AnswerTime": "2026-03-08 01:59:51",
        "EndTime": "2026-03-08 03:00:30",
        "Duration": "40",
        "BillableSeconds": "39",
        "Disposition": "ANSWERED",
        "UniqueID": "pbx-1772935190.10",
        "UserField": "",
    }
    fields.update(over)
    return _event(**fields)


def _agent_cdr(**over: str) -> Event:
    fields = {
        "Source": "+13125550123",
        "Destination": "s",
        "DestinationContext": "staff",
        "Channel": "PJSIP/2003-0000000b",
        "DestinationChannel": "",
        "LastApplication": "Stasis",
        "LastData": "frontdesk,agent,pbx-1772935190.10",
        "StartTime": "2026-03-08 03:00:01",
        "AnswerTime": "2026-03-08 03:00:04",
        "EndTime": "2026-03-08 03:00:04",
        "Duration": "3",
        "BillableSeconds": "0",
        "Disposition": "ANSWERED",
        "UniqueID": "pbx-1772935190.10-agent-1",
    }
    fields.update(over)
    return _event(**fields)


def _check(upsert: CallUpsert | None) -> CallUpsert:
    assert upsert is not None
    assert from_json(to_json(upsert)) == upsert  # spoolable
    return upsert


# --- the recorded lab flows ---------------------------------------------------------------


def test_flow_d1_caller_cdr() -> None:
    (cdr,) = _cdrs("flow_d1_ami_during_flow_a.jsonl")
    upsert = _check(cdr_upsert(cdr, LAB))
    assert upsert.linkedid == "lab-1795738735.0"
    # Stasis answered the channel itself (its menu): that AnswerTime is no one's answer.
    assert upsert.fields == {
        "started_at": datetime(2026, 11, 27, 0, 18, 55, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 27, 0, 19, 0, tzinfo=UTC),
        "talk_s": 5,
    }
    assert upsert.fill == {"started_at", "answered_at", "ended_at"}  # frontdesk's win
    assert "caller" not in upsert.fields  # the daemon's E.164 number is the one kept
    assert upsert.key.startswith("cdr:lab-1795738735.0:")


def test_flow_d2_agent_and_caller_cdrs_name_the_same_call() -> None:
    agent_cdr, caller_cdr = _cdrs("flow_d2_ami_during_flow_b.jsonl")  # agent's comes first
    agent = _check(cdr_upsert(agent_cdr, LAB))
    caller = _check(cdr_upsert(caller_cdr, LAB))
    assert agent.linkedid == caller.linkedid == "lab-1795738745.1"
    # The agent leg's BillableSeconds (0) is its pre-bridge time, not talk time: not written.
    assert agent.fields == {"agent": "2001"}
    assert caller.fields == {
        "started_at": datetime(2026, 11, 27, 0, 19, 5, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 27, 0, 19, 12, tzinfo=UTC),
        "talk_s": 6,
    }
    assert agent.key != caller.key
    assert agent.key.startswith("cdr:lab-1795738746.4:")


@pytest.mark.parametrize(
    ("name", "linkedid", "talk_s"),
    [
        ("flow_d3_ami_app_queue_call.jsonl", "lab-1795738756.5", 6),
        ("flow_d4_ami_dialplan_ivr_call.jsonl", "lab-1795738773.12", 5),
    ],
)
def test_dialplan_calls_are_caller_legs(name: str, linkedid: str, talk_s: int) -> None:
    (cdr,) = _cdrs(name)  # frontdesk down: the dialplan's Queue() handled the call
    upsert = _check(cdr_upsert(cdr, LAB))
    assert upsert.linkedid == linkedid
    assert upsert.fields["talk_s"] == talk_s
    # frontdesk saw none of it: the dialplan's answer is the Cdr's to give (filling only).
    assert upsert.fields["answered_at"] >= upsert.fields["started_at"]
    assert "answered_at" in upsert.fill


def test_duplicated_cdr_has_the_same_key() -> None:
    (cdr,) = _cdrs("flow_d1_ami_during_flow_a.jsonl")
    again = Event(tuple(cdr.fields))
    first, second = cdr_upsert(cdr, LAB), cdr_upsert(again, LAB)
    assert first is not None
    assert second is not None
    assert first.key == second.key == cdr_key(cdr)
    assert first == second


# --- synthetic events ---------------------------------------------------------------------


def test_pbx_local_time_is_read_in_the_given_zone() -> None:
    # 2026-03-08: Chicago springs forward at 02:00 CST -> 03:00 CDT.
    upsert = _check(cdr_upsert(_caller_cdr(LastApplication="Queue"), CHICAGO))
    start, end = upsert.fields["started_at"], upsert.fields["ended_at"]
    assert start == datetime(2026, 3, 8, 7, 59, 50, tzinfo=UTC)  # CST, UTC-6
    assert end == datetime(2026, 3, 8, 8, 0, 30, tzinfo=UTC)  # CDT, UTC-5
    assert end - start == timedelta(seconds=40)
    assert upsert.fields["answered_at"] == datetime(2026, 3, 8, 7, 59, 51, tzinfo=UTC)
    assert upsert.fields["talk_s"] == 39


def test_time_with_an_offset_keeps_it() -> None:
    upsert = _check(cdr_upsert(_caller_cdr(StartTime="2026-03-08 01:59:50+00:00"), CHICAGO))
    assert upsert.fields["started_at"] == datetime(2026, 3, 8, 1, 59, 50, tzinfo=UTC)


def test_a_fixed_offset_zone_reads_the_same_text() -> None:
    """What the PBX clock learns at connect (asterisk/pbx_clock.py): a fixed offset."""
    kolkata = timezone(timedelta(hours=5, minutes=30))
    upsert = _check(cdr_upsert(_caller_cdr(StartTime="2026-12-05 11:01:38"), kolkata))
    assert upsert.fields["started_at"] == datetime(2026, 12, 5, 5, 31, 38, tzinfo=UTC)


def test_an_unknown_pbx_zone_writes_no_time_but_the_rest() -> None:
    upsert = _check(cdr_upsert(_caller_cdr(LastApplication="Queue"), None))
    assert upsert.fields == {"talk_s": 39}
    agent = _check(cdr_upsert(_agent_cdr(), None))
    assert agent.fields == {"agent": "2003"}  # answered: from Disposition, no zone needed
    offset = _check(cdr_upsert(_caller_cdr(StartTime="2026-03-08 01:59:50+00:00"), None))
    assert offset.fields["started_at"] == datetime(2026, 3, 8, 1, 59, 50, tzinfo=UTC)


def test_the_fill_survives_the_spool() -> None:
    upsert = _check(cdr_upsert(_caller_cdr(LastApplication="Queue"), CHICAGO))
    line = json.loads(json.dumps(to_json(upsert)))
    assert line["fill"] == ["answered_at", "ended_at", "started_at"]
    assert from_json(line) == upsert
    older = {k: v for k, v in line.items() if k != "fill"}  # spooled before the fill
    assert from_json(older).fill == frozenset()


def test_unanswered_caller_leg() -> None:
    cdr = _caller_cdr(AnswerTime="", BillableSeconds="0", Disposition="NO ANSWER")
    upsert = _check(cdr_upsert(cdr, CHICAGO))
    assert "answered_at" not in upsert.fields
    assert upsert.fields["talk_s"] == 0


def test_agent_leg_maps_to_the_caller_with_the_extension() -> None:
    upsert = _check(cdr_upsert(_agent_cdr(), CHICAGO))
    assert upsert.linkedid == "pbx-1772935190.10"
    assert upsert.fields == {"agent": "2003"}


def test_callback_agent_leg_sets_the_agent() -> None:
    cdr = _agent_cdr(LastData="frontdesk,callback-agent,pbx-1772935190.10")
    assert _check(cdr_upsert(cdr, CHICAGO)).fields == {"agent": "2003"}


def test_transfer_leg_answered_is_an_external_transfer() -> None:
    cdr = _agent_cdr(
        Channel="PJSIP/trunk-0000000c", LastData="frontdesk,transfer,pbx-1772935190.10"
    )
    upsert = _check(cdr_upsert(cdr, CHICAGO))
    assert (upsert.linkedid, upsert.fields) == (
        "pbx-1772935190.10",
        {"outcome": "transferred_external"},
    )


def test_escaped_last_data_is_unescaped() -> None:
    cdr = _agent_cdr(LastData='frontdesk,agent,\\"pbx-1772935190.10\\"')
    assert _check(cdr_upsert(cdr, CHICAGO)).linkedid == '"pbx-1772935190.10"'


@pytest.mark.parametrize(
    "cdr",
    [
        pytest.param(_agent_cdr(AnswerTime="", Disposition="NO ANSWER"), id="agent-no-answer"),
        pytest.param(_agent_cdr(Disposition="BUSY"), id="agent-busy"),
        pytest.param(_agent_cdr(LastData="frontdesk,agent,"), id="agent-no-caller"),
        pytest.param(_agent_cdr(LastData="frontdesk,agent"), id="agent-no-caller-arg"),
        pytest.param(_agent_cdr(LastData="frontdesk,agent,a b"), id="agent-bad-caller"),
        pytest.param(_agent_cdr(Channel="Local/2003@staff-0001;1"), id="agent-not-pjsip"),
        pytest.param(_agent_cdr(LastData="frontdesk,feature,*45"), id="staff-feature-code"),
        pytest.param(
            _agent_cdr(LastData="frontdesk,callback-patient,pbx-1772935190.10"),
            id="callback-patient-adds-nothing",
        ),
        pytest.param(_agent_cdr(LastApplication="AppDial2", LastData="(Outgoing Line)")),
        pytest.param(_agent_cdr(LastApplication="", LastData=""), id="never-ran-an-app"),
        pytest.param(
            _caller_cdr(LastApplication="Dial", DestinationContext="staff"), id="internal-call"
        ),
        pytest.param(_caller_cdr(UniqueID=""), id="no-uniqueid"),
        pytest.param(_caller_cdr(UniqueID="x" * 151), id="uniqueid-too-long"),
        pytest.param(
            _caller_cdr(StartTime="", AnswerTime="", EndTime="", BillableSeconds=""),
            id="nothing-to-write",
        ),
        pytest.param(Event((("Event", "Hangup"), ("UniqueID", "pbx-1.1"))), id="not-a-cdr"),
    ],
)
def test_unattributable_or_empty_cdr_is_none(cdr: Event) -> None:
    assert cdr_upsert(cdr, CHICAGO) is None


def test_garbage_values_are_left_out() -> None:
    cdr = _caller_cdr(StartTime="yesterday", AnswerTime="0000-00-00 00:00:00", BillableSeconds="-3")
    upsert = _check(cdr_upsert(cdr, CHICAGO))
    assert set(upsert.fields) == {"ended_at"}


def test_sequence_makes_the_key_when_present() -> None:
    assert cdr_key(_caller_cdr(Sequence="42")) == "cdr:pbx-1772935190.10:42"
    # Two CDRs of one channel (a fork) differ in their fields, hence in their keys.
    assert cdr_key(_caller_cdr()) != cdr_key(_caller_cdr(DestinationChannel="PJSIP/2004-1"))


_KEYS = [
    "UniqueID",
    "Channel",
    "LastApplication",
    "LastData",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "BillableSeconds",
    "Disposition",
    "DestinationContext",
    "Sequence",
]
_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "Stasis",
            "frontdesk,agent,pbx-1.1",
            "frontdesk,transfer,",
            "PJSIP/2001-0000000a",
            "2026-11-05 01:30:00",
            "9999-12-31 23:59:59",
            "0001-01-01 00:00:00",
            "2026-11-05T01:30:00+23:59",
            "99999999999",
            "ANSWERED",
            "\\",
            '\\"',
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(_KEYS), _VALUES),
    zone=st.sampled_from([LAB, CHICAGO, ZoneInfo("Pacific/Kiritimati")]),
)
def test_garbage_never_raises(fields: dict[str, str], zone: ZoneInfo) -> None:
    upsert = cdr_upsert(_event(**fields), zone)
    if upsert is not None:
        assert upsert.fields
        assert set(upsert.fields) <= set(CALL_FIELDS)
        assert all(value is not None for value in upsert.fields.values())
        assert upsert.key.startswith("cdr:")
        assert from_json(to_json(upsert)) == upsert
