"""Registered staff phones, from AMI events and ARI endpoint states: the pure tracker, over
the emulator (with asterisk-conf/manager.conf's AMI rights), and the ACD."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog

from frontdesk.acd.model import AgentPause
from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.asterisk.ami_codec import Event
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.events import SentAfterHours, VoicemailLeft
from frontdesk.calls.presence import PhonePresence
from frontdesk.daemon import track_phones
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.test_acd_calls import PASSWORD, SPEED, Practice, next_fact, open_practice
from tests.test_acd_calls import pbx as pbx

STAFF = ["2001", "2002"]


def contact(aor: str, status: str) -> Event:
    return Event((("Event", "ContactStatus"), ("AOR", aor), ("ContactStatus", status)))


def endpoint(resource: str, state: str) -> dict[str, object]:
    return {"technology": "PJSIP", "resource": resource, "state": state, "channel_ids": []}


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


def test_endpoint_list_gives_every_staff_phone_its_state() -> None:
    presence = PhonePresence([*STAFF, "2003", "2004"], registered={"2002", "2004"})
    listing = [
        endpoint("trunk", "online"),
        endpoint("2001", "online"),
        endpoint("2002", "offline"),
        endpoint("2004", "unknown"),  # says nothing: 2004 keeps its state
    ]
    # 2003 has no endpoint at all (pjsip.conf older than the plan): it cannot be rung.
    assert presence.on_endpoints(listing) == {"2001": True, "2002": False, "2003": False}
    assert presence.registered == {"2001", "2004"}


def test_a_malformed_endpoint_list_is_refused() -> None:
    presence = PhonePresence(STAFF, registered={"2001"})
    assert presence.on_endpoints({"message": "No Endpoints found"}) is None
    assert presence.on_endpoints([[], {"resource": ["2001"]}, "2001"]) == {
        "2001": False,
        "2002": False,
    }


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


async def test_endpoint_states_read_from_the_emulator_over_ari() -> None:
    async with Emulator(ari_password="pw", staff=STAFF, registered=["2002"]) as emulator:
        presence = PhonePresence(STAFF)
        async with AriClient(AriConfig(emulator.ari_url, "frontdesk", "pw")) as ari:
            listing = await ari.request("GET", PhonePresence.ENDPOINTS_PATH, idempotent=True)
        assert presence.on_endpoints(listing) == {"2001": False, "2002": True}
        assert emulator.violations == []


async def test_with_manager_conf_rights_the_daemon_syncs_without_a_refusal(plan: Plan) -> None:
    """asterisk-conf/manager.conf's user (write = user): no Filter action, no contact
    listing over AMI; the sync reads ARI and registrations still arrive over AMI."""
    staff = [s.extension for s in plan.staff]
    async with Emulator(
        ari_password="pw", ami_secret="pw", staff=staff, registered=staff[1:]
    ) as emulator:
        ami = AmiClient(AmiSettings("127.0.0.1", emulator.ami_port, "frontdesk", "pw"))
        ari = AriClient(AriConfig(emulator.ari_url, "frontdesk", "pw"))
        with structlog.testing.capture_logs() as logs:
            await ami.start()
            try:
                track_phones(ami, ari, plan, None)
                await _until(lambda: _synced(logs))
                assert _synced(logs)[-1]["phones"] == staff[1:]
                await emulator.register(staff[0])
                await _until(lambda: staff[0] in _registered(logs)[-1]["phones"])
            finally:
                await ami.close()
                await ari.close()
        events = {entry["event"] for entry in logs}
        assert not {"ami_filter_refused", "phones.sync_failed"} & events, events
        assert emulator.violations == []
        sent = [r["path"] for r in emulator.requests]
        assert "/ari/endpoints/PJSIP" in sent


def _registered(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "phones.registered"]


def _synced(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in _registered(logs) if e.get("synced")]


async def _until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_phone_absent_before_frontdesk_connects_is_never_rung(
    plan: Plan, pbx: Emulator
) -> None:
    await pbx.unregister("2001")  # gone before frontdesk starts: no event will say so
    async with open_practice(plan, pbx) as practice:
        ami = AmiClient(AmiSettings("127.0.0.1", pbx.ami_port, "frontdesk", PASSWORD))
        await ami.start()
        try:
            track_phones(ami, practice.ari, plan, practice.queues)
            agents = practice.queues.engine.snapshot
            await practice.wait_for(
                lambda: agents(practice.queues.now()).agent("2001").state == "unreachable"
            )
            channel = await practice.call("1,3")  # cardiology: Ana (2001) is the best agent
            queued = practice.queues.calls[channel]
            await practice.wait_for(lambda: practice.queues.state(channel) == "talking")
            assert queued.agent_ext == "2006"  # Fay, the next cardiology agent
        finally:
            await ami.close()
    rung = [r["query"].get("endpoint") for r in pbx.requests if r["path"] == "/ari/channels"]
    assert "PJSIP/2001" not in rung
    assert "PJSIP/2006" in rung


@asynccontextmanager
async def phones_tracked(plan: Plan, pbx: Emulator, practice: Practice) -> AsyncIterator[None]:
    """The daemon's presence tracking (`track_phones`) over the emulator's AMI."""
    ami = AmiClient(AmiSettings("127.0.0.1", pbx.ami_port, "frontdesk", PASSWORD))
    await ami.start()
    try:
        track_phones(ami, practice.ari, plan, practice.queues)
        yield
    finally:
        await ami.close()


async def test_billing_with_its_only_phone_unregistered_sends_callers_to_voicemail(
    plan: Plan, pbx: Emulator
) -> None:
    """docs/routing.md §3.2: Chloe (2003), billing's only member, is logged in, but her
    phone is unregistered: a billing caller takes billing's after-hours voicemail."""
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        async with phones_tracked(plan, pbx, practice):
            await pbx.unregister("2003")
            agents = practice.queues.engine.snapshot
            await practice.wait_for(
                lambda: agents(practice.queues.now()).agent("2003").state == "unreachable"
            )
            assert "2003" not in practice.runtime.logged_in
            channel = await practice.call("2", caller="+13125551001")
            await practice.wait_for(lambda: f"frontdesk/billing/{channel}" in pbx.pbx.live)
            routed = next(r for r in practice.routed if r.call == channel)
            assert routed.decision.destination.as_json() == {
                "kind": "voicemail",
                "box": "billing",
                "callback": "next business day",
            }
            assert routed.decision.after_hours is False  # open, but nobody can answer
            assert channel not in practice.queues.calls
            await pbx.press(channel, "#")
            alert = await next_fact(practice, VoicemailLeft, timeout=5)
            assert alert.box == "billing"
        assert "sound:frontdesk/voicemail-billing" in pbx.pbx.history[channel].media
    rung = [r["query"].get("endpoint") for r in pbx.requests if r["path"] == "/ari/channels"]
    assert "PJSIP/2003" not in rung


async def test_a_waiting_caller_moves_on_at_max_wait_once_the_phone_is_gone(
    plan: Plan, pbx: Emulator
) -> None:
    """docs/routing.md §4.7: a billing caller on hold for a paused Chloe; her phone drops
    off; at billing's max_wait (5 min) the caller follows billing's after hours."""
    async with open_practice(plan, pbx, logged_in=["2003"]) as practice:
        practice.queues.feed(AgentPause("2003"))
        async with phones_tracked(plan, pbx, practice):
            channel = await practice.call("2", caller="anonymous")  # no callback to offer
            await practice.wait_for(lambda: practice.queues.state(channel) == "waiting")
            await pbx.unregister("2003")
            await practice.wait_for(lambda: "2003" not in practice.runtime.logged_in)
            joined = practice.queues.calls[channel].joined.enqueued_at
            fact = await next_fact(practice, SentAfterHours, timeout=10 * 60 / SPEED)
            assert fact.call == channel
            assert practice.queues.now() - joined >= timedelta(minutes=5)
            await practice.wait_for(lambda: pbx.pbx.history[channel].continued_to is not None)
            snapshot = await pbx.channel(channel)
            assert snapshot["variables"]["FRONTDESK_ROUTE"] == "voicemail"
            assert snapshot["variables"]["FRONTDESK_DESTINATION"] == "billing"
        assert "sound:frontdesk/callback-offer" not in pbx.pbx.history[channel].media
