"""CallSession: ARI events in, ARI commands out, with Asterisk 22's event shapes (flow a)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from frontdesk.calls.commands import (
    Answer,
    ArmTimer,
    ContinueInDialplan,
    DisarmTimer,
    Play,
    SetVariables,
    StopPlayback,
)
from frontdesk.calls.session import CallSession, JoinQueue, Routed, facts_from_channel
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Patient
from frontdesk.routing.ivr import CallFacts
from tests.conftest import local

NOW = local("2026-11-30 10:00")
EVENING = local("2026-11-30 20:00")
EVERYONE = {"2001", "2002", "2003", "2004", "2005", "2006"}
CHANNEL = "lab-1795738735.0"

# As recorded from Asterisk 22.10.1 (flow a), with our DID and caller.
STASIS_START_CHANNEL: dict[str, Any] = {
    "id": CHANNEL,
    "name": "PJSIP/trunk-00000000",
    "state": "Ring",
    "protocol_id": "1-12738@127.0.0.1",
    "caller": {"name": "PSTN Caller", "number": "+13125551002"},
    "connected": {"name": "", "number": ""},
    "accountcode": "",
    "dialplan": {
        "context": "from-pstn",
        "exten": "3125550000",
        "priority": 2,
        "app_name": "Stasis",
        "app_data": "frontdesk",
    },
    "creationtime": "2026-11-27T00:18:55.021+0000",
    "language": "en",
}


def finished(playback_id: str) -> dict[str, Any]:
    return {
        "type": "PlaybackFinished",
        "timestamp": "2026-11-27T00:18:56.101+0000",
        "playback": {
            "id": playback_id,
            "media_uri": "sound:frontdesk/menu-1",
            "target_uri": f"channel:{CHANNEL}",
            "language": "en",
            "state": "done",
        },
        "asterisk_id": "02:fc:00:00:00:01",
        "application": "frontdesk",
    }


def dtmf(digit: str) -> dict[str, Any]:
    return {
        "type": "ChannelDtmfReceived",
        "digit": digit,
        "duration_ms": 280,
        "channel": STASIS_START_CHANNEL,
    }


def session(plan: Plan, patient: Patient | None = None) -> CallSession:
    facts = CallFacts("+13125550000", "+13125551002", patient)
    return CallSession(plan, PracticeClock(plan), CHANNEL, facts, EVERYONE)


def the_play(commands: list[Any]) -> Play:
    plays = [c for c in commands if isinstance(c, Play)]
    assert len(plays) == 1, commands
    return plays[0]


def test_facts_come_from_the_stasis_start_channel() -> None:
    assert facts_from_channel(STASIS_START_CHANNEL) == ("+13125551002", "3125550000")
    assert facts_from_channel({"id": "x"}) == (None, None)
    assert facts_from_channel({"caller": "garbage", "dialplan": 3}) == (None, None)


def test_start_answers_and_plays_the_whole_menu_in_one_request(plan: Plan) -> None:
    commands = session(plan).start(NOW)
    assert commands[0] == Answer(CHANNEL)
    play = the_play(commands)
    assert play.media[:2] == ("sound:frontdesk/emergency-notice", "sound:frontdesk/menu-1")
    assert play.language == "en"
    assert play.playback_id.startswith(CHANNEL)


def test_readopted_call_is_not_answered_again(plan: Plan) -> None:
    commands = session(plan).start(NOW, answered=True)
    assert not any(isinstance(c, Answer) for c in commands)


def test_known_spanish_patient_hears_spanish(plan: Plan) -> None:
    play = the_play(session(plan, Patient("P-1002", "es", "cardiology")).start(NOW))
    assert play.language == "es"
    assert "sound:frontdesk/language-es" not in play.media


def test_playback_finished_arms_the_menu_timer(plan: Plan) -> None:
    call = session(plan)
    play = the_play(call.start(NOW))
    (arm,) = call.on_event(finished(play.playback_id), NOW)
    assert isinstance(arm, ArmTimer)
    assert arm.delay == timedelta(seconds=5)


def test_duplicate_and_foreign_playback_events_are_ignored(plan: Plan) -> None:
    call = session(plan)
    play = the_play(call.start(NOW))
    assert call.on_event(finished("someone-else"), NOW) == []
    assert len(call.on_event(finished(play.playback_id), NOW)) == 1
    assert call.on_event(finished(play.playback_id), NOW) == []  # Asterisk can send it twice


def test_a_key_routes_and_hands_the_call_back_to_the_dialplan(plan: Plan) -> None:
    call = session(plan)
    play = the_play(call.start(NOW))
    (arm,) = call.on_event(finished(play.playback_id), NOW)
    assert isinstance(arm, ArmTimer)
    commands = call.on_event(dtmf("2"), NOW)
    assert commands[0] == DisarmTimer(CHANNEL, arm.timer)
    routed, variables, cont = commands[1:]
    assert isinstance(routed, Routed)
    assert routed.decision.destination.as_json()["queue"] == "billing"
    assert variables == SetVariables(
        CHANNEL,
        (
            ("FRONTDESK_ROUTE", "queue"),
            ("FRONTDESK_DESTINATION", "billing"),
            ("FRONTDESK_CATEGORY", "billing"),
            ("FRONTDESK_LANGUAGE", "en"),
        ),
    )
    assert cont == ContinueInDialplan(CHANNEL)
    assert call.ended


def test_barge_in_stops_the_playback(plan: Plan) -> None:
    call = session(plan)
    play = the_play(call.start(NOW))
    commands = call.on_event(dtmf("3"), NOW)
    assert commands[0] == StopPlayback(CHANNEL, play.playback_id)
    assert the_play(commands).media[0] == "sound:frontdesk/menu-3-1"


def test_transfer_hands_over_the_dial_string(plan: Plan) -> None:
    call = session(plan)
    call.start(EVENING)
    call.on_event(dtmf("3"), EVENING)
    announce = the_play(call.on_event(dtmf("1"), EVENING))
    assert announce.media == ("sound:frontdesk/urgent-connect",)
    commands = call.on_event(finished(announce.playback_id), EVENING)
    variables = next(c for c in commands if isinstance(c, SetVariables))
    assert ("FRONTDESK_ROUTE", "transfer") in variables.variables
    assert ("FRONTDESK_DESTINATION", "PJSIP/+13125550199@trunk") in variables.variables


def test_hangup_ends_the_session_and_later_events_do_nothing(plan: Plan) -> None:
    call = session(plan)
    call.start(NOW)
    assert call.on_event({"type": "StasisEnd", "channel": STASIS_START_CHANNEL}, NOW) == []
    assert call.ended
    assert call.on_event(dtmf("2"), NOW) == []
    assert call.on_timer(1, NOW) == []


def test_garbage_dtmf_is_ignored(plan: Plan) -> None:
    call = session(plan)
    call.start(NOW)
    assert call.on_event({"type": "ChannelDtmfReceived", "digit": "\r\n"}, NOW) == []
    assert call.on_event({"type": "ChannelDtmfReceived"}, NOW) == []
    assert call.on_event({"type": "SomethingNew"}, NOW) == []


def test_lost_playback_finish_is_recovered(plan: Plan) -> None:
    call = session(plan)
    the_play(call.start(NOW))
    (arm,) = call.playback_lost(NOW)
    assert isinstance(arm, ArmTimer)
    assert call.playback_lost(NOW) == []


def test_a_hang_up_during_the_announcement_is_abandoned_a_route_is_not(plan: Plan) -> None:
    """The IVR has decided (the announcement plays) but the call is not routed yet: the
    caller hanging up then abandoned it, as in a menu (issue 16)."""
    call = session(plan)
    call.start(EVENING)
    call.on_event(dtmf("3"), EVENING)
    the_play(call.on_event(dtmf("1"), EVENING))  # the urgent line's announcement
    assert call.ivr.decision is not None
    call.on_event({"type": "StasisEnd", "channel": STASIS_START_CHANNEL}, EVENING)
    assert (call.ended, call.abandoned) == (True, True)
    routed = session(plan)
    play = the_play(routed.start(NOW))
    routed.on_event(finished(play.playback_id), NOW)
    routed.on_event(dtmf("2"), NOW)
    assert (routed.ended, routed.abandoned) == (True, False)


def test_a_go_live_shift_goes_with_the_caller_to_the_acd(plan: Plan) -> None:
    shift = EVENING - NOW + timedelta(days=4)  # Friday night, whatever the real time
    facts = CallFacts("+13125550000", "+13125551002")
    call = CallSession(
        plan, PracticeClock(plan), CHANNEL, facts, EVERYONE, acd=True, clock_offset=-shift
    )
    play = the_play(call.start(NOW + shift))  # routed at Monday 10:00
    call.on_event(finished(play.playback_id), NOW + shift)
    join = next(c for c in call.on_event(dtmf("2"), NOW + shift) if isinstance(c, JoinQueue))
    assert join.decision.destination.as_json()["queue"] == "billing"
    assert join.clock_offset == -shift
