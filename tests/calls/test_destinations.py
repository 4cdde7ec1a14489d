"""When a voicemail's callback is due, from the queue's schedule and its promised window."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.calls.destinations import HANDOFF_VARIABLE, Destinations, callback_due
from frontdesk.calls.queues import Alert, AlertHub
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision, Request, VoicemailDestination
from tests.conftest import local


def due(plan: Plan, queue: str, window: str, at: str) -> str | None:
    moment = callback_due(plan, PracticeClock(plan), queue, window, local(at))
    return moment.isoformat() if moment else None


def test_next_business_day_is_the_end_of_the_next_open_day(plan: Plan) -> None:
    assert (
        due(plan, "billing", "next business day", "2026-11-30 20:00") == "2026-12-01T16:00:00-06:00"
    )
    # Thursday evening: Friday billing closes at noon.
    assert (
        due(plan, "billing", "next business day", "2026-12-03 20:00") == "2026-12-04T12:00:00-06:00"
    )


def test_friday_evening_skips_the_weekend(plan: Plan) -> None:
    assert (
        due(plan, "scheduling", "next business day", "2026-12-04 18:00")
        == "2026-12-07T17:00:00-06:00"
    )


def test_same_day_is_today_while_today_is_still_open(plan: Plan) -> None:
    assert due(plan, "intake", "same day", "2026-11-30 07:00") == "2026-11-30T17:00:00-06:00"
    assert due(plan, "intake", "same day", "2026-11-30 20:00") == "2026-12-01T17:00:00-06:00"


def test_holidays_are_skipped(plan: Plan) -> None:
    # Wednesday before Thanksgiving: Thursday is the holiday, Friday is open.
    assert (
        due(plan, "scheduling", "next business day", "2026-11-25 18:00")
        == "2026-11-27T17:00:00-06:00"
    )
    # Dec 23: Dec 24 is closed (plan), Dec 25 is Christmas: Monday Dec 28.
    assert (
        due(plan, "scheduling", "next business day", "2026-12-23 18:00")
        == "2026-12-28T17:00:00-06:00"
    )


def test_unknown_queue_has_no_due_time(plan: Plan) -> None:
    assert due(plan, "nope", "same day", "2026-11-30 10:00") is None


# -- a voicemail cut short by the caller hanging up ---------------------------------------
VOICEMAIL = Decision(
    Request("billing", "billing", None),
    VoicemailDestination("billing", "next business day"),
    "billing",
    True,
    None,
)
CHANNEL = "pbx-1.0"
NAME = f"frontdesk/billing/{CHANNEL}"


class FakeAri:
    """Only what voicemail asks of ARI, as (method, argument) pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.variables: dict[tuple[str, str], str] = {}
        self.channels: dict[str, dict[str, Any]] = {}

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        self.variables[(channel, name)] = value

    async def get_channel(self, channel: str) -> dict[str, Any]:
        if channel not in self.channels:
            raise AriError("GET", f"/channels/{channel}", 404, "Channel not found")
        return self.channels[channel]

    async def delete_bridge(self, bridge: str) -> None:
        self.sent.append(("delete_bridge", bridge))

    async def continue_in_dialplan(self, channel: str, *_: object) -> None:
        self.sent.append(("continue", channel))

    async def record(self, channel: str, name: str, **_: object) -> None:
        self.sent.append(("record", name))

    async def hangup(self, channel: str) -> None:
        self.sent.append(("hangup", channel))

    async def delete_recording(self, name: str) -> None:
        self.sent.append(("delete_recording", name))


async def recording(plan: Plan) -> tuple[Destinations, FakeAri, list[Alert]]:
    ari = FakeAri()
    alerts = AlertHub()
    published: list[Alert] = []
    alerts.add_listener(published.append)
    destinations = Destinations(
        plan, cast(AriClient, ari), alerts, now=lambda: local("2026-11-30 20:00")
    )
    await destinations.deliver(CHANNEL, VOICEMAIL, "+13125551001")
    return destinations, ari, published


def ended(kind: str) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": CHANNEL}}


def finished(duration: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": NAME, "state": "done", "target_uri": f"channel:{CHANNEL}"}
    if duration is not None:
        body["duration"] = duration
    return {"type": "RecordingFinished", "recording": body}


async def settle(destinations: Destinations) -> None:
    await asyncio.gather(*destinations._tasks)


async def test_a_hang_up_while_recording_is_a_message_left(plan: Plan) -> None:
    destinations, ari, published = await recording(plan)
    destinations.on_event(ended("ChannelHangupRequest"))
    assert destinations.owns(CHANNEL)  # RecordingFinished still to come
    destinations.on_event(finished(12))
    destinations.on_event(ended("StasisEnd"))
    await settle(destinations)
    (alert,) = published
    assert (alert["kind"], alert["recording"], alert["hung_up"]) == ("voicemail", NAME, True)
    assert alert["callback_due"] == local("2026-12-01 16:00").isoformat()  # billing closes
    assert ari.sent == [("record", NAME)]  # kept, and no hang-up of a gone channel
    assert not destinations.owns(CHANNEL)


async def test_under_a_second_of_audio_is_an_abandoned_call(plan: Plan) -> None:
    destinations, ari, published = await recording(plan)
    destinations.on_event(ended("ChannelHangupRequest"))
    destinations.on_event(finished(0))
    await settle(destinations)
    assert published == [{"kind": "abandoned", "call": CHANNEL, "where": "voicemail"}]
    assert ari.sent == [("record", NAME), ("delete_recording", NAME)]


async def test_a_hang_up_before_recording_started_is_abandoned(plan: Plan) -> None:
    destinations, ari, published = await recording(plan)
    destinations.on_event(ended("ChannelHangupRequest"))
    destinations.on_event(ended("StasisEnd"))  # no RecordingFinished came first
    destinations.on_event(finished(None))  # a stray one later changes nothing
    await settle(destinations)
    assert published == [{"kind": "abandoned", "call": CHANNEL, "where": "voicemail"}]
    assert ari.sent == [("record", NAME)]
    assert not destinations.owns(CHANNEL)


async def test_pound_still_ends_the_message_and_the_call(plan: Plan) -> None:
    destinations, ari, published = await recording(plan)
    destinations.on_event(finished(0))  # the caller chose to end it: no minimum
    await settle(destinations)
    assert [(a["kind"], a["hung_up"]) for a in published] == [("voicemail", False)]
    assert ari.sent == [("record", NAME), ("hangup", CHANNEL)]


# -- a restarted frontdesk finds callers mid-handoff -------------------------------------------
async def test_a_handoff_is_marked_on_the_channel_for_a_restart(plan: Plan) -> None:
    _, ari, _ = await recording(plan)
    assert ari.variables[(CHANNEL, HANDOFF_VARIABLE)] == "voicemail:billing:billing:billing"


def fresh(plan: Plan) -> tuple[Destinations, FakeAri, list[Alert]]:
    ari = FakeAri()
    alerts = AlertHub()
    published: list[Alert] = []
    alerts.add_listener(published.append)
    destinations = Destinations(
        plan, cast(AriClient, ari), alerts, now=lambda: local("2026-11-30 20:00")
    )
    return destinations, ari, published


async def test_a_message_being_left_is_readopted_and_still_counts(plan: Plan) -> None:
    destinations, _, published = fresh(plan)
    marker = "voicemail:billing:billing:billing"
    assert await destinations.readopt(CHANNEL, marker, "+13125551001")
    destinations.on_event(ended("ChannelHangupRequest"))
    destinations.on_event(finished(9))
    await settle(destinations)
    (alert,) = published
    assert (alert["kind"], alert["box"], alert["category"]) == ("voicemail", "billing", "billing")
    assert alert["callback_due"] == local("2026-12-01 16:00").isoformat()


async def test_a_connected_transfer_is_readopted_and_either_hangup_ends_both(plan: Plan) -> None:
    destinations, ari, _ = fresh(plan)
    ari.channels[f"{CHANNEL}-xfer"] = {"id": f"{CHANNEL}-xfer", "state": "Up"}
    assert await destinations.readopt(CHANNEL, "transfer", None)
    destinations.on_event({"type": "StasisEnd", "channel": {"id": f"{CHANNEL}-xfer"}})
    await settle(destinations)
    assert ("hangup", CHANNEL) in ari.sent
    assert not destinations.owns(CHANNEL)


async def test_a_transfer_whose_far_end_is_gone_goes_to_the_fallback(plan: Plan) -> None:
    destinations, ari, _ = fresh(plan)
    assert await destinations.readopt(CHANNEL, "transfer", None)
    await settle(destinations)
    assert ari.sent == [("continue", CHANNEL)]
    assert ari.variables[(CHANNEL, "FRONTDESK_ROUTE")] == "fallback"


async def test_a_marker_of_another_kind_is_not_ours(plan: Plan) -> None:
    destinations, _, _ = fresh(plan)
    assert not await destinations.readopt(CHANNEL, "voicemail:x", None)
    assert not destinations.owns(CHANNEL)
