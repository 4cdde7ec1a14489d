"""Registered staff phones, from AMI ContactStatus: the pure tracker and over the emulator."""

from __future__ import annotations

import asyncio

from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.asterisk.ami_codec import Event
from frontdesk.calls.presence import PhonePresence
from frontdesk.emulator import Emulator

STAFF = ["2001", "2002"]


def contact(aor: str, status: str) -> Event:
    return Event((("Event", "ContactStatus"), ("AOR", aor), ("ContactStatus", status)))


def test_contact_status_tracks_registration() -> None:
    presence = PhonePresence(STAFF)
    assert presence.on_event(contact("2001", "Created"))
    assert not presence.on_event(contact("2001", "NonQualified"))  # no change
    assert presence.on_event(contact("2001", "Removed"))
    assert presence.registered == set()


def test_other_events_and_strangers_are_ignored() -> None:
    presence = PhonePresence(STAFF)
    assert not presence.on_event(contact("9999", "Created"))
    assert not presence.on_event(Event((("Event", "Newchannel"), ("AOR", "2001"))))
    assert presence.registered == set()


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
