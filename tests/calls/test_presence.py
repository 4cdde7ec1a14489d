"""Registered staff phones, from AMI: the pure tracker, over the emulator, and the ACD."""

from __future__ import annotations

import asyncio

from frontdesk.asterisk.ami import AmiClient, AmiSettings, ListResult
from frontdesk.asterisk.ami_codec import Event, Response
from frontdesk.calls.presence import PhonePresence
from frontdesk.daemon import _track_phones
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.test_acd_calls import PASSWORD, open_practice
from tests.test_acd_calls import pbx as pbx

STAFF = ["2001", "2002"]


def contact(aor: str, status: str) -> Event:
    return Event((("Event", "ContactStatus"), ("AOR", aor), ("ContactStatus", status)))


def listed(name: str, status: str = "NonQualified") -> Event:
    return Event((("Event", "ContactList"), ("ObjectName", name), ("Status", status)))


def test_contact_status_tracks_registration() -> None:
    presence = PhonePresence(STAFF)
    assert presence.on_event(contact("2001", "Created")) == ("2001", True)
    assert presence.on_event(contact("2001", "NonQualified")) == ("2001", True)
    assert presence.on_event(contact("2001", "Removed")) == ("2001", False)
    assert presence.registered == set()


def test_unregistered_is_passed_on_even_for_a_phone_never_seen_registered() -> None:
    presence = PhonePresence(STAFF)  # the ACD assumes 2002 reachable: it must hear this
    assert presence.on_event(contact("2002", "Unreachable")) == ("2002", False)


def test_other_events_and_strangers_are_ignored() -> None:
    presence = PhonePresence(STAFF)
    assert presence.on_event(contact("9999", "Created")) is None
    assert presence.on_event(contact("2001", "Unknown")) is None
    assert presence.on_event(Event((("Event", "Newchannel"), ("AOR", "2001")))) is None
    assert presence.registered == set()


def test_contact_list_gives_every_staff_phone_its_state() -> None:
    presence = PhonePresence([*STAFF, "2003"], registered={"2002"})
    answer = ListResult(
        Response((("Response", "Success"), ("EventList", "start"))),
        (
            listed("2001;@0c1e7a"),
            listed("2002;@9f3b2d", "Unreachable"),
            listed("trunk@@77aa01"),  # the trunk's static contact
        ),
    )
    assert presence.on_contacts(answer) == {"2001": True, "2002": False, "2003": False}
    assert presence.registered == {"2001"}


def test_no_contacts_found_means_nobody_is_registered() -> None:
    presence = PhonePresence(STAFF, registered={"2001"})
    none = Response((("Response", "Error"), ("Message", "No Contacts found")))
    assert presence.on_contacts(ListResult(none)) == {"2001": False, "2002": False}
    refused = Response((("Response", "Error"), ("Message", "Permission denied")))
    assert presence.on_contacts(ListResult(refused)) is None


async def test_registration_seen_through_ami_from_the_emulator() -> None:
    async with Emulator(ami_secret="pw", staff=STAFF, registered=[]) as pbx:
        presence = PhonePresence(STAFF)
        changed = asyncio.Event()
        client = AmiClient(AmiSettings("127.0.0.1", pbx.ami_port, "frontdesk", "pw"))
        client.add_listener(lambda event: presence.on_event(event) and changed.set())
        await client.start()
        try:
            await pbx.register("2001")
            await asyncio.wait_for(changed.wait(), 5)
            assert presence.registered == {"2001"}
            changed.clear()
            await pbx.unregister("2001")
            await asyncio.wait_for(changed.wait(), 5)
            assert presence.registered == set()
        finally:
            await client.close()


async def test_contacts_listed_by_the_emulator() -> None:
    async with Emulator(ami_secret="pw", staff=STAFF, registered=["2002"]) as emulator:
        presence = PhonePresence(STAFF)
        client = AmiClient(AmiSettings("127.0.0.1", emulator.ami_port, "frontdesk", "pw"))
        await client.start()
        try:
            answer = await client.action_list(PhonePresence.ACTION)
            names = [e.get("ObjectName") or "" for e in answer.events]
            assert [n.split(";@")[0].split("@@")[0] for n in names] == ["trunk", "2002"]
            assert presence.on_contacts(answer) == {"2001": False, "2002": True}
        finally:
            await client.close()


async def test_a_phone_absent_before_frontdesk_connects_is_never_rung(
    plan: Plan, pbx: Emulator
) -> None:
    await pbx.unregister("2001")  # gone before frontdesk starts: no event will say so
    async with open_practice(plan, pbx) as practice:
        ami = AmiClient(AmiSettings("127.0.0.1", pbx.ami_port, "frontdesk", PASSWORD))
        await ami.start()
        try:
            _track_phones(ami, plan, practice.queues)
            agents = practice.queues.engine.snapshot
            await practice.wait_for(
                lambda: agents(practice.queues.now()).agent("2001").state == "unreachable"
            )
            channel = await practice.call("1,3")  # cardiology: Ana (2001) is the best agent
            queued = practice.queues.calls[channel]
            await practice.wait_for(lambda: queued.state == "talking")
            assert queued.agent_ext == "2006"  # Fay, the next cardiology agent
        finally:
            await ami.close()
    rung = [r["query"].get("endpoint") for r in pbx.requests if r["path"] == "/ari/channels"]
    assert "PJSIP/2001" not in rung
    assert "PJSIP/2006" in rung
