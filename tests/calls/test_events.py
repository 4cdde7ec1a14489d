"""calls/events.py: call facts as stored data and back."""

from __future__ import annotations

import pytest

from frontdesk.calls.events import (
    AgentRinging,
    AgentStateChanged,
    CallAbandoned,
    CallbackTaskRaised,
    CallFact,
    CallStarted,
    ConversationEnded,
    EmergencyCallPlaced,
    EscalationRaised,
    PhoneTransferred,
    VoicemailLeft,
    from_record,
)
from frontdesk.routing.ivr import CallFacts


def all_facts(cls: type[CallFact] = CallFact) -> list[type[CallFact]]:
    out: list[type[CallFact]] = []
    for sub in cls.__subclasses__():
        out += [sub, *all_facts(sub)]
    return out


# -- data() --------------------------------------------------------------------------------------
def test_data_leaves_call_out_and_turns_tuples_into_lists() -> None:
    fact = EscalationRaised("c1", "nurse_triage", 300, ("2004", "2005"))
    assert fact.data() == {"queue": "nurse_triage", "waited_s": 300, "recipients": ["2004", "2005"]}


def test_data_keeps_nones_and_defaults() -> None:
    assert VoicemailLeft("c1", "general").data() == {
        "box": "general",
        "recording": None,
        "category": None,
        "callback_due": None,
        "hung_up": False,
    }
    assert CallAbandoned("c1").data() == {"where": None}
    assert ConversationEnded("c1").data() == {}


def test_data_of_a_ringing_agent() -> None:
    fact = AgentRinging("c1", "2001", "+13125551001", "es", "appointments")
    assert fact.data() == {
        "agent": "2001",
        "number": "+13125551001",
        "language": "es",
        "category": "appointments",
    }


def test_call_started_stores_only_whether_the_patient_is_known() -> None:
    fact = CallStarted("c1", CallFacts(did="+13125550000", caller="+13125551001"))
    assert fact.data() == {"known_patient": False}


# -- from_record ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fact",
    [
        EscalationRaised("c1", "nurse_triage", 300, ("2004", "2005")),
        EscalationRaised("c1", None, None),
        CallbackTaskRaised("c2", "billing"),
        CallbackTaskRaised("c2", None),
        VoicemailLeft("c3", "general", "rec-1", "billing", "2026-12-01T10:00:00-06:00", True),
        VoicemailLeft("c3", None),
        PhoneTransferred("c4", "2001", None, "attended"),
        CallAbandoned("c5", "menu"),
        ConversationEnded("c6"),
        EmergencyCallPlaced("c7", "2003", "Chloe Martin"),
        EmergencyCallPlaced("c7", "2999", None),
    ],
    ids=repr,
)
def test_stored_data_rebuilds_the_fact(fact: CallFact) -> None:
    assert from_record(fact.kind, fact.call, fact.data()) == fact


def test_escalation_with_missing_fields() -> None:
    assert from_record("escalation", "c1", {}) == EscalationRaised("c1", None, None, ())


def test_escalation_with_wrong_types() -> None:
    stored = {"queue": 5, "waited_s": "300", "recipients": "2004"}
    assert from_record("escalation", "c1", stored) == EscalationRaised("c1", None, None, ())


def test_escalation_keeps_only_string_recipients_and_no_bool_for_int() -> None:
    stored = {"queue": "billing", "waited_s": True, "recipients": ["2004", 7, None, "2005"]}
    assert from_record("escalation", "c1", stored) == EscalationRaised(
        "c1", "billing", None, ("2004", "2005")
    )


def test_callback_task_with_missing_or_bad_category() -> None:
    assert from_record("callback_task", "c1", {}) == CallbackTaskRaised("c1", None)
    assert from_record("callback_task", "c1", {"category": ["x"]}) == CallbackTaskRaised("c1", None)


def test_voicemail_with_missing_and_wrong_fields_takes_defaults() -> None:
    stored = {"box": "general", "hung_up": "yes", "recording": 12}
    assert from_record("voicemail", "c1", stored) == VoicemailLeft(
        "c1", "general", recording=None, category=None, callback_due=None, hung_up=False
    )


def test_emergency_call_with_missing_fields() -> None:
    assert from_record("emergency_call", "c1", {"name": 5}) == EmergencyCallPlaced("c1", "", None)


@pytest.mark.parametrize("data", [None, [], "text", 5])
def test_data_that_is_not_an_object_gives_defaults(data: object) -> None:
    assert from_record("voicemail", "c1", data) == VoicemailLeft("c1", None)


@pytest.mark.parametrize("kind", ["nonsense", "", "agent", "started", "routed"])
def test_unknown_or_unrebuildable_kind_is_none(kind: str) -> None:
    assert from_record(kind, "c1", {}) is None


# -- kinds -----------------------------------------------------------------------------------------
def test_every_fact_has_its_own_kind() -> None:
    facts = all_facts()
    kinds = [cls.kind for cls in facts]
    assert len(facts) >= 20
    assert all(isinstance(k, str) and k for k in kinds)
    assert len(set(kinds)) == len(kinds), sorted(kinds)
    assert AgentStateChanged.kind not in kinds
