"""When a voicemail's callback is due, from the queue's schedule and its promised window."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from frontdesk.asterisk.ari import AriClient
from frontdesk.calls.destinations import Destinations, callback_due
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
