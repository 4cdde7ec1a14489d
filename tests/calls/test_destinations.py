"""When a voicemail's callback is due, from the queue's schedule and its promised window."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import (
    Command,
    ContinueInDialplan,
    DeleteBridge,
    DeleteRecording,
    Hangup,
    Record,
    SetVariables,
)
from frontdesk.calls.destinations import HANDOFF_VARIABLE, Destinations, callback_due
from frontdesk.calls.events import CallAbandoned, HubEvent, VoicemailLeft
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
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
    """What a restart asks of ARI: the transfer's far end."""

    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}

    async def get_channel(self, channel: str) -> dict[str, Any]:
        if channel not in self.channels:
            raise AriError("GET", f"/channels/{channel}", 404, "Channel not found")
        return self.channels[channel]


class Lanes:
    """Stands in for the executor: keeps the requests asked for, as (what, argument)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.variables: dict[tuple[str, str], str] = {}

    def submit(self, lane: str, commands: Iterable[Command]) -> None:
        for command in commands:
            match command:
                case SetVariables(channel, variables):
                    self.variables |= {(channel, name): value for name, value in variables}
                case Record(_, name):
                    self.sent.append(("record", name))
                case Hangup(channel):
                    self.sent.append(("hangup", channel))
                case DeleteRecording(_, name):
                    self.sent.append(("delete_recording", name))
                case ContinueInDialplan(channel):
                    self.sent.append(("continue", channel))
                case DeleteBridge(_, bridge):
                    self.sent.append(("delete_bridge", bridge))
                case _:
                    self.sent.append((type(command).__name__, command.channel))


def fresh(plan: Plan) -> tuple[Destinations, Lanes, list[HubEvent]]:
    lanes, hub = Lanes(), EventHub()
    published: list[HubEvent] = []
    hub.add_listener(published.append)
    destinations = Destinations(
        plan,
        cast(CommandExecutor, lanes),
        Channels(),
        hub,
        now=lambda: local("2026-11-30 20:00"),
    )
    return destinations, lanes, published


def recording(plan: Plan) -> tuple[Destinations, Lanes, list[HubEvent]]:
    destinations, lanes, published = fresh(plan)
    destinations.deliver(CHANNEL, VOICEMAIL, "+13125551001")
    return destinations, lanes, published


def ended(kind: str) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": CHANNEL}}


def finished(duration: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": NAME, "state": "done", "target_uri": f"channel:{CHANNEL}"}
    if duration is not None:
        body["duration"] = duration
    return {"type": "RecordingFinished", "recording": body}


async def test_a_hang_up_while_recording_is_a_message_left(plan: Plan) -> None:
    destinations, ari, published = recording(plan)
    destinations.on_event(CHANNEL, ended("ChannelHangupRequest"))
    assert CHANNEL in destinations.calls  # RecordingFinished still to come
    destinations.on_event(CHANNEL, finished(12))
    destinations.on_event(CHANNEL, ended("StasisEnd"))
    (alert,) = published
    assert isinstance(alert, VoicemailLeft)
    assert (alert.recording, alert.hung_up) == (NAME, True)
    assert alert.callback_due == local("2026-12-01 16:00").isoformat()  # billing closes
    assert ari.sent == [("record", NAME)]  # kept, and no hang-up of a gone channel
    assert CHANNEL not in destinations.calls


async def test_under_a_second_of_audio_is_an_abandoned_call(plan: Plan) -> None:
    destinations, ari, published = recording(plan)
    destinations.on_event(CHANNEL, ended("ChannelHangupRequest"))
    destinations.on_event(CHANNEL, finished(0))
    assert published == [CallAbandoned(CHANNEL, where="voicemail")]
    assert ari.sent == [("record", NAME), ("delete_recording", NAME)]


async def test_a_hang_up_before_recording_started_is_abandoned(plan: Plan) -> None:
    destinations, ari, published = recording(plan)
    destinations.on_event(CHANNEL, ended("ChannelHangupRequest"))
    destinations.on_event(CHANNEL, ended("StasisEnd"))  # no RecordingFinished came first
    destinations.on_event(CHANNEL, finished(None))  # a stray one later changes nothing
    assert published == [CallAbandoned(CHANNEL, where="voicemail")]
    assert ari.sent == [("record", NAME)]
    assert CHANNEL not in destinations.calls


async def test_pound_still_ends_the_message_and_the_call(plan: Plan) -> None:
    destinations, ari, published = recording(plan)
    destinations.on_event(CHANNEL, finished(0))  # the caller chose to end it: no minimum
    assert [(type(a), getattr(a, "hung_up", None)) for a in published] == [(VoicemailLeft, False)]
    assert ari.sent == [("record", NAME), ("hangup", CHANNEL)]


# -- a restarted frontdesk finds callers mid-handoff -------------------------------------------
async def test_a_handoff_is_marked_on_the_channel_for_a_restart(plan: Plan) -> None:
    _, ari, _ = recording(plan)
    assert ari.variables[(CHANNEL, HANDOFF_VARIABLE)] == "voicemail:billing:billing:billing"


async def test_a_message_being_left_is_readopted_and_still_counts(plan: Plan) -> None:
    destinations, _, published = fresh(plan)
    marker = "voicemail:billing:billing:billing"
    assert await destinations.readopt(cast(AriClient, FakeAri()), CHANNEL, marker, "+13125551001")
    destinations.on_event(CHANNEL, ended("ChannelHangupRequest"))
    destinations.on_event(CHANNEL, finished(9))
    (alert,) = published
    assert isinstance(alert, VoicemailLeft)
    assert (alert.box, alert.category) == ("billing", "billing")
    assert alert.callback_due == local("2026-12-01 16:00").isoformat()


async def test_a_connected_transfer_is_readopted_and_either_hangup_ends_both(plan: Plan) -> None:
    destinations, ari, _ = fresh(plan)
    pbx = FakeAri()
    pbx.channels[f"{CHANNEL}-xfer"] = {"id": f"{CHANNEL}-xfer", "state": "Up"}
    assert await destinations.readopt(cast(AriClient, pbx), CHANNEL, "transfer", None)
    destinations.on_event(
        f"{CHANNEL}-xfer", {"type": "StasisEnd", "channel": {"id": f"{CHANNEL}-xfer"}}
    )
    assert ("hangup", CHANNEL) in ari.sent
    assert CHANNEL not in destinations.calls


async def test_a_transfer_whose_far_end_is_gone_goes_to_the_fallback(plan: Plan) -> None:
    destinations, ari, _ = fresh(plan)
    assert await destinations.readopt(cast(AriClient, FakeAri()), CHANNEL, "transfer", None)
    assert ari.sent == [("continue", CHANNEL)]
    assert ari.variables[(CHANNEL, "FRONTDESK_ROUTE")] == "fallback"


async def test_a_marker_of_another_kind_is_not_ours(plan: Plan) -> None:
    destinations, _, _ = fresh(plan)
    assert not await destinations.readopt(cast(AriClient, FakeAri()), CHANNEL, "voicemail:x", None)
    assert CHANNEL not in destinations.calls
