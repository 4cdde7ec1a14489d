"""Calls on a real Asterisk 22 during business hours (the daemon's practice clock: a
Monday 10:30). Each test judges a call by what the phones and the trunk saw (SIPp
traces), by AMI, and by the call row in PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import aiohttp

from lab.ami_watch import AmiWatch
from lab.harness import BUSINESS_HOURS, Lab
from lab.pbx import ARI_URL, PHONE_PORTS
from lab.phone_ua import AttendedTransferPhone
from lab.sipp import Call, invites_from, wait_until
from lab.test_recordings import keep_recording

MAIN = "+13125550000"
REFILL = "+13125550010"
FIRST_KEY = 6.0  # after the answer: the emergency notice plays first
NEXT_KEY = 2.5


def keys(*pressed: str) -> tuple[tuple[float, str | None], ...]:
    return tuple((FIRST_KEY if i == 0 else NEXT_KEY, k) for i, k in enumerate(pressed))


def test_menu_to_a_skill_queue_rings_the_best_agent(lab: Lab) -> None:
    # Scheduling, cardiology: Ana (2001, cardiology 3) before Fay (2006, cardiology 2).
    caller = "+13125552001"
    lab.call(Call(caller, MAIN, keys("1", "3"), hold=16))
    assert lab.answered_by(caller) == "2001"
    row = lab.call_row(caller)
    assert (row["queue"], row["agent"], row["outcome"]) == ("scheduling", "2001", "answered")
    assert row["category"] == "scheduling"


def test_known_patient_goes_straight_to_the_specialty_on_file(lab: Lab) -> None:
    # P-1003 (directory.csv): orthopedics. Key 1 skips the specialty menu: Ben (2002).
    caller = "+13125551003"
    lab.call(Call(caller, MAIN, keys("1"), hold=12))
    assert lab.answered_by(caller) == "2002"
    row = lab.call_row(caller)
    assert row["patient_id"] == "P-1003"
    assert '"orthopedics"' in str(row["destination"])


def test_operator_key_reaches_the_front_desk(lab: Lab) -> None:
    caller = "+13125552002"
    lab.call(Call(caller, MAIN, keys("0"), hold=12))
    assert lab.answered_by(caller) in ("2001", "2003", "2006")
    assert lab.call_row(caller)["queue"] == "front_desk"


def test_silent_caller_reaches_the_front_desk(lab: Lab) -> None:
    caller = "+13125552003"
    lab.call(Call(caller, MAIN, (), hold=120))  # three menus and their timeouts, first
    assert lab.answered_by(caller, timeout=110) in ("2001", "2003", "2006")
    row = lab.call_row(caller, timeout=120)
    assert (row["queue"], row["outcome"]) == ("front_desk", "answered")


def test_refill_number_goes_to_the_pharmacy_skilled_nurse(lab: Lab) -> None:
    caller = "+13125552004"
    lab.call(Call(caller, REFILL, (), hold=12))
    assert lab.answered_by(caller) == "2004"  # Dana: pharmacy 3, Eli 2
    row = lab.call_row(caller)
    assert (row["category"], row["queue"]) == ("refill", "nurse_triage")


def test_spanish_caller_without_a_spanish_agent_gets_the_language_line(lab: Lab) -> None:
    # 9: Spanish; 4, 2: a referral. Referrals' only member (Fay) has no Spanish.
    caller = "+13125552005"
    lab.call(Call(caller, MAIN, keys("9", "4", "2"), hold=14))
    assert lab.trunk is not None
    wait_until(lambda: trunk_invites(lab, "+18005550123", caller), "the language line to ring")
    row = lab.call_row(caller)
    assert row["language"] == "es"
    assert row["outcome"] == "transferred_external"


def test_urgent_caller_goes_first_in_triage_and_escalation_reaches_ami(
    lab: Lab, ami: AmiWatch
) -> None:
    # Both nurses busy with refill callers; a clinical caller waits, then an urgent one.
    busy = ["+13125552011", "+13125552012"]
    for number in busy:
        lab.call(Call(number, REFILL, (), hold=45))
        lab.answered_by(number)
    clinical, urgent = "+13125552013", "+13125552014"
    lab.call(Call(clinical, MAIN, keys("3", "2"), hold=90))
    wait_until(lambda: len(lab.queue_callers("nurse_triage")) == 1, "the clinical caller to wait")
    lab.call(Call(urgent, MAIN, keys("3", "1"), hold=90))
    wait_until(lambda: len(lab.queue_callers("nurse_triage")) == 2, "the urgent caller to wait")
    order = [c["priority"] for c in lab.queue_callers("nurse_triage")]
    assert order == ["front", "normal"]
    # The clinical caller has waited 20 s: the charge nurse's alert, as an AMI UserEvent.
    wait_until(lambda: ami.named("UserEvent"), "the escalation UserEvent", 40)
    assert any("Escalation" in e.get("UserEvent", "") for e in ami.named("UserEvent"))
    # A nurse frees up: the urgent caller is answered before the clinical one.
    first = lab.answered_by(urgent, timeout=60)
    later = [p for p in lab.phones.values() if invites_from(p, clinical)]
    assert not later or first in ("2004", "2005")
    assert lab.call_row(urgent, timeout=120)["urgent"] is True


def test_callback_is_made_agent_first_then_the_patient(lab: Lab) -> None:
    # Referrals: Fay (2006) only. Fay busy; the next caller waits 25 s, presses 1.
    lab.phone("2006", talk=120)
    first, patient = "+13125552021", "+13125557777"
    lab.call(Call(first, MAIN, keys("4", "2"), hold=48))
    lab.answered_by(first)
    lab.call(Call(patient, MAIN, (*keys("4", "2"), (30.0, "1")), hold=60))
    wait_until(
        lambda: lab.daemon.seen("acd.callback_accepted") or _accepted(lab, patient),
        "the callback to be accepted",
        60,
    )
    # Fay's call ends; frontdesk calls her first (the whisper), then the patient.
    assert lab.trunk is not None
    wait_until(lambda: trunk_invites(lab, patient, None), "the patient to be called back", 90)
    assert len(lab.phones["2006"].received("INVITE")) >= 2
    log = (lab.pbx.logs / "messages.log").read_text(errors="replace")
    assert re.search(r"Playing 'frontdesk/callback-referral", log), "the whisper was not heard"


def test_feature_codes_from_a_phone(lab: Lab) -> None:
    def state() -> str:
        return str(lab.agent_states()["2002"]["state"])

    lab.dial("2002", "*46")
    wait_until(lambda: state() == "logged_out", "*46 to log 2002 out")
    lab.dial("2002", "*45")
    wait_until(lambda: state() == "idle", "*45 to log 2002 in")
    lab.dial("2002", "*47")
    wait_until(lambda: state() == "paused", "*47 to pause 2002")
    lab.dial("2002", "*47")
    wait_until(lambda: state() == "idle", "*47 again to resume 2002")


def test_kill_9_with_callers_waiting_answers_them_in_arrival_order(lab: Lab) -> None:
    # Billing: Chloe (2003) only. Paused (logged out, billing would be unstaffed and
    # route like after hours), five callers wait; frontdesk is killed.
    lab.daemon.api("POST", "/api/agents/2003/pause")
    lab.phone("2003", ring=0.5, talk=3)
    callers = [f"+1312555203{n}" for n in range(5)]
    for number in callers:
        lab.call(Call(number, MAIN, keys("2"), hold=150))
        time.sleep(1.0)
    wait_until(lambda: len(lab.queue_callers("billing")) == 5, "five callers in billing", 40)
    lab.daemon.kill(signal.SIGKILL)
    lab.daemon.start(BUSINESS_HOURS)
    # Logins survive kill -9: Chloe is still paused (nobody is rung until she resumes).
    wait_until(lambda: lab.agent_states()["2003"]["state"] == "paused", "Chloe still paused")
    assert not any(invites_from(lab.phones["2003"], n) for n in callers)
    lab.daemon.api("POST", "/api/agents/2003/unpause")
    wait_until(
        lambda: all(invites_from(lab.phones["2003"], n) for n in callers),
        "Chloe to answer all five",
        90,
    )
    rung = [_from_number(m) for m in lab.phones["2003"].received("INVITE")]
    assert [n for n in rung if n in {c.lstrip("+") for c in callers}] == [
        c.lstrip("+") for c in callers
    ]


def test_frontdesk_down_the_dialplan_rings_the_front_desk(lab: Lab) -> None:
    lab.daemon.stop()
    try:
        caller = "+13125552041"
        lab.call(Call(caller, MAIN, (), hold=10))
        wait_until(
            lambda: all(invites_from(lab.phones[e], caller) for e in ("2001", "2003", "2006")),
            "every front-desk phone to ring",
        )
    finally:
        lab.daemon.start(BUSINESS_HOURS)


def test_while_overloaded_the_dialplan_sheds_to_the_front_desk_but_not_urgent_numbers(
    lab: Lab, ami: AmiWatch
) -> None:
    """The globals frontdesk sets while overloaded (calls/admission.py) as the real
    dialplan reads them: a call to MAIN goes to the fallback before Stasis() and is
    reported as a UserEvent; a call to a DID marked urgent is let through to Stasis()
    (here it fails, the daemon being stopped so that it cannot set the flag back)."""
    lab.daemon.stop()
    try:
        _set_global(lab, "FRONTDESK_SHED", "100")
        _set_global(lab, "FRONTDESK_URGENT_13125550010", "1")
        caller, urgent = "+13125552042", "+13125552043"
        lab.call(Call(caller, MAIN, (), hold=10))
        lab.call(Call(urgent, REFILL, (), hold=10))
        for number in (caller, urgent):
            wait_until(
                lambda n=number: all(invites_from(lab.phones[e], n) for e in ("2001", "2003")),
                "the front desk's phones to ring",
            )
        shed = [e for e in ami.named("UserEvent") if e.get("UserEvent") == "FrontdeskShed"]
        assert [e.get("Did") for e in shed] == ["13125550000"]
        assert shed[0]["CallerIDNum"].endswith(caller[-10:])
        keep_recording([{"kind": "ami_event", "event": shed[0]}], "ami_dialplan_shed.jsonl")
    finally:
        _set_global(lab, "FRONTDESK_SHED", "0")
        lab.daemon.start(BUSINESS_HOURS)


def _set_global(lab: Lab, name: str, value: str) -> None:
    auth = {"Authorization": aiohttp.encode_basic_auth("frontdesk", lab.pbx.secrets.ari)}

    async def post() -> int:
        async with aiohttp.ClientSession(headers=auth) as session:
            query = {"variable": name, "value": value}
            async with session.post(ARI_URL + "/asterisk/variable", params=query) as response:
                return response.status

    assert asyncio.run(post()) == 204


def test_a_desk_phone_dialling_911_is_an_alert_on_the_board(lab: Lab) -> None:
    """Kari's Law: the call leaves by the trunk and the board tells the site at once
    (the dialplan's UserEvent through frontdesk's AMI user, on the real PBX)."""
    lab.dial("2003", "911")
    wait_until(lambda: trunk_invites(lab, "911", None), "the 911 call to reach the trunk")

    def alerts() -> list[dict[str, str]]:
        board = lab.daemon.api("GET", "/api/board")
        return [a for a in board["alerts"] if a["kind"] == "emergency_call"]

    wait_until(alerts, "the board's 911 alert", 10)
    assert alerts()[0]["extension"] == "2003"


def trunk_invites(lab: Lab, dialled: str, caller: str | None) -> list[str]:
    assert lab.trunk is not None
    found = [m for m in lab.trunk.received("INVITE") if m.startswith(f"INVITE sip:{dialled}@")]
    if caller is not None:
        found = [m for m in found if caller.lstrip("+") in m.split("\n", 3)[2] + m]
    return found


def _accepted(lab: Lab, caller: str) -> bool:
    rows = lab.rows("SELECT callback_accepted FROM calls WHERE caller = $1", caller)
    return any(r["callback_accepted"] for r in rows)


def _from_number(message: str) -> str:
    match = re.search(r"^From:[^\n]*sip:\+?(\d+)@", message, re.M)
    return match.group(1) if match else ""


def test_a_phones_blind_transfer_keeps_the_patient_and_is_recorded(lab: Lab) -> None:
    # Dana (2004) answers a refill caller and presses transfer to Eli (2005), who talks
    # 5 s and hangs up: the patient is hung up then, and no second call appears.
    lab.phone("2004", talk=4, transfer_to="2005")
    lab.phone("2005", talk=5)
    caller = "+13125552061"
    call = lab.call(Call(caller, REFILL, (), hold=60))
    wait_until(
        lambda: invites_from(lab.phones["2005"], "2004") or lab.phones["2005"].received("INVITE"),
        "Eli's phone to ring",
    )
    row = lab.call_row(caller, timeout=60, ended=True)
    assert (row["agent"], row["transferred"], row["outcome"]) == ("2004", True, "answered")
    wait_until(lambda: call.received("BYE"), "the patient to be hung up with Eli")
    menus = re.findall(
        r"Local/2005@staff[^\n]*Playing 'frontdesk/menu",
        (lab.pbx.logs / "messages.log").read_text(errors="replace"),
    )
    assert not menus, "the menu was played into the conversation"
    calls = lab.rows(
        "SELECT count(*) AS n FROM calls WHERE created_at >= "
        "(SELECT created_at FROM calls WHERE linkedid = $1)",
        row["linkedid"],
    )
    assert calls[0]["n"] == 1
    lab.phone("2004")
    lab.phone("2005")


def test_a_phones_attended_transfer_keeps_the_patient_and_is_recorded(lab: Lab) -> None:
    # Dana (2004) answers a refill caller, calls Eli (2005), then completes the transfer.
    lab.phones["2004"].stop()
    phone = AttendedTransferPhone("2004", lab.pbx.secrets.phones["2004"], PHONE_PORTS["2004"])
    lab.phone("2005", talk=6)
    caller = "+13125552062"
    try:
        call = lab.call(Call(caller, REFILL, (), hold=60))
        phone.transfer("2005")
        row = lab.call_row(caller, timeout=60, ended=True)
        assert (row["agent"], row["transferred"], row["outcome"]) == ("2004", True, "answered")
        wait_until(lambda: call.received("BYE"), "the patient to be hung up with Eli")
    finally:
        phone.close()
        lab.phone("2004")
        lab.phone("2005")


def test_a_phones_transfer_to_a_busy_phone_puts_the_patient_back_first_in_line(
    lab: Lab,
) -> None:
    # Dana (2004) answers a refill caller and transfers to Eli (2005), whose phone is busy:
    # the patient is neither dropped nor left in silence but waits in nurse triage again,
    # first in line, and Dana's phone rings with them once she is free.
    lab.phone("2004", talk=4, transfer_to="2005")
    lab.phone("2005", busy=True)
    caller = "+13125552063"
    transfers = len(lab.daemon.events("acd.phone_transfer"))
    requeued = len(lab.daemon.events("acd.requeued"))
    try:
        lab.call(Call(caller, REFILL, (), hold=90))
        wait_until(
            lambda: len(lab.daemon.events("acd.phone_transfer")) > transfers,
            "Dana's transfer",
            40,
        )
        lab.phone("2004", talk=5)  # her next call she just answers
        wait_until(
            lambda: len(lab.daemon.events("acd.requeued")) > requeued,
            "the patient back in the queue",
            60,
        )
        wait_until(
            lambda: invites_from(lab.phones["2004"], caller), "Dana to get the patient again", 60
        )
        row = lab.call_row(caller, timeout=60, ended=True)
        assert (row["transferred"], row["outcome"]) == (True, "answered")
    finally:
        lab.phone("2004")
        lab.phone("2005")


def test_a_transfer_to_another_queue_keeps_the_patients_place(lab: Lab) -> None:
    # Chloe (billing) is paused while a billing caller waits. Ana answers a scheduling
    # caller who had called first and moves them to billing, as the agent page does
    # (`POST /api/calls/<call>/transfer`): they wait ahead of the later caller, and
    # Chloe's phone rings with them first.
    lab.daemon.api("POST", "/api/agents/2003/pause")
    lab.phone("2003", ring=0.5, talk=3)
    first, later = "+13125552071", "+13125552072"
    try:
        lab.call(Call(first, MAIN, keys("1", "3"), hold=90))
        assert lab.answered_by(first) == "2001"
        lab.call(Call(later, MAIN, keys("2"), hold=90))
        wait_until(lambda: len(lab.queue_callers("billing")) == 1, "the later caller to wait")
        call_id = talking_call(lab, "2001")
        body = {"to": "queue", "target": "billing", "reason": "a bill", "category": "billing"}
        lab.daemon.api("POST", f"/api/calls/{call_id}/transfer", body)
        wait_until(
            lambda: [c["call_id"] for c in lab.queue_callers("billing")][:1] == [call_id],
            "the moved patient first in billing",
        )
        lab.daemon.api("POST", "/api/agents/2003/unpause")
        wait_until(lambda: invites_from(lab.phones["2003"], later), "Chloe to take both", 60)
        rung = [_from_number(m) for m in lab.phones["2003"].received("INVITE")]
        assert rung.index(first.lstrip("+")) < rung.index(later.lstrip("+"))
        row = lab.call_row(first, timeout=60)
        assert row["transferred"] is True
    finally:
        lab.daemon.api("POST", "/api/agents/2003/unpause")
        lab.phone("2003")


def test_a_transfer_to_a_colleague_rings_them_then_bridges(lab: Lab) -> None:
    # Ana answers a scheduling caller and hands them to Ben (2002) through frontdesk:
    # Ben's phone rings with the patient's number, he answers and talks 5 s; when he
    # hangs up the patient is hung up too.
    lab.phone("2002", talk=5)
    caller = "+13125552073"
    try:
        call = lab.call(Call(caller, MAIN, keys("1", "3"), hold=90))
        assert lab.answered_by(caller) == "2001"
        call_id = talking_call(lab, "2001")
        body = {"to": "agent", "target": "2002", "reason": "orthopedics question"}
        lab.daemon.api("POST", f"/api/calls/{call_id}/transfer", body)
        wait_until(lambda: invites_from(lab.phones["2002"], caller), "Ben's phone to ring", 40)
        wait_until(lambda: call.received("BYE"), "the patient to be hung up with Ben", 60)
        row = lab.call_row(caller, timeout=60, ended=True)
        assert (row["agent"], row["transferred"]) == ("2001", True)
        kinds = [
            r["kind"] for r in lab.rows("SELECT kind FROM call_events WHERE linkedid = $1", call_id)
        ]
        assert "staff_transfer" in kinds
    finally:
        lab.phone("2002")


def talking_call(lab: Lab, ext: str) -> str:
    """The call agent `ext` is talking on, once they are (the phone answered)."""
    wait_until(lambda: lab.agent_states()[ext]["state"] == "talking", f"{ext} to be talking")
    return str(lab.agent_states()[ext]["call_id"])


def test_a_queue_whose_only_phone_is_unregistered_takes_its_after_hours_route(
    lab: Lab,
) -> None:
    # Billing: Chloe (2003) only, logged in, but her phone unregisters: a billing caller
    # takes billing's voicemail instead of waiting in a queue nobody can answer.
    lab.phones["2003"].stop()
    lab.register("2003", expires=0)
    try:
        wait_until(
            lambda: lab.agent_states()["2003"]["state"] == "unreachable",
            "Chloe's phone to count as unreachable",
        )
        caller = "+13125552081"
        lab.call(Call(caller, MAIN, keys("2"), hold=20, speak=15.0))
        row = lab.call_row(caller, timeout=60)
        assert row["outcome"] == "voicemail"
        assert not invites_from(lab.phones["2003"], caller)
    finally:
        lab.register("2003")
        lab.phone("2003")
        lab.daemon.api("POST", "/api/agents/2003/unpause")  # a ring she missed paused her
        wait_until(lambda: lab.agent_states()["2003"]["state"] == "idle", "Chloe back", 30)
