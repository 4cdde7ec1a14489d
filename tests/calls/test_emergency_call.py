"""A staff phone's 911 call reaches frontdesk (Kari's Law): the project's dialplan raises
the AMI UserEvent `FrontdeskEmergencyCall`, the AMI user's event filter lets it through,
and the call runtime's AMI listener (`CallRuntime.on_ami_event`, wired as daemon.py wires
it) publishes `EmergencyCallPlaced` on the hub and logs it.

The emulated Asterisk runs the `UserEvent(...)` step of `exten => 911` as written in
dialplan/extensions.conf, so a change of the event's name or header there fails here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from structlog.testing import capture_logs

from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.asterisk.ami_codec import Event
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.events import EmergencyCallPlaced, HubEvent
from frontdesk.calls.runtime import CallRuntime
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from tests.test_asterisk_config import DIALPLAN, parse_dialplan

SECRET = "emergency-test"


def dialplan_911_user_event() -> str:
    """The data of the UserEvent step of `[staff]` `exten => 911` in the project's dialplan."""
    apps = parse_dialplan(DIALPLAN.read_text(encoding="utf-8")).apps("staff", "911")
    (step,) = [app for app in apps if app.startswith("UserEvent(")]
    return step.removeprefix("UserEvent(").removesuffix(")")


@dataclass
class Pbx:
    emulator: Emulator
    facts: list[HubEvent]

    def emergencies(self) -> list[EmergencyCallPlaced]:
        return [f for f in self.facts if isinstance(f, EmergencyCallPlaced)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.01)


@pytest.fixture
async def pbx(plan: Plan) -> AsyncIterator[Pbx]:
    steps = [("UserEvent", dialplan_911_user_event()), ("Hangup", "")]
    emulator = Emulator(
        ari_password=SECRET,
        ami_secret=SECRET,  # the `frontdesk` AMI user of manager.conf, with its event filter
        staff=["2003"],
        dialplan={"from-pstn": {"911": steps}},
        ami_failure_delay=0.05,
        shutdown_linger=0.05,
    )
    await emulator.start()
    ari = AriClient(AriConfig(f"http://127.0.0.1:{emulator.ari_port}/ari", "frontdesk", SECRET))
    runtime = CallRuntime(plan, ari, acd=False)
    facts: list[HubEvent] = []
    runtime.hub.add_listener(facts.append)
    ami = AmiClient(AmiSettings("127.0.0.1", emulator.ami_port, "frontdesk", SECRET))
    await ami.start()
    ami.add_listener(runtime.on_ami_event)
    try:
        await ami.wait_connected(5.0)
        yield Pbx(emulator, facts)
    finally:
        await ami.close()
        await runtime.close()
        await ari.close()
        await emulator.stop()


async def test_a_staff_phone_dialling_911_is_published_and_logged(pbx: Pbx) -> None:
    with capture_logs() as logs:
        call = await pbx.emulator.place_call("2003", "911", caller_name="Chloe Martin")
        await pbx.wait_for(lambda: len(pbx.emergencies()) == 1)
    assert pbx.emergencies() == [EmergencyCallPlaced(call, "2003", "Chloe Martin")]
    (line,) = [entry for entry in logs if entry["event"] == "calls.emergency_call"]
    assert (line["log_level"], line["extension"], line["call"]) == ("warning", "2003", call)
    assert "Chloe" not in str(line)  # names stay out of the logs


async def test_an_extension_of_nobody_in_the_plan_has_no_name(pbx: Pbx) -> None:
    call = await pbx.emulator.place_call("2999", "911")
    await pbx.wait_for(lambda: len(pbx.emergencies()) == 1)
    assert pbx.emergencies() == [EmergencyCallPlaced(call, "2999", None)]


async def test_a_phone_number_instead_of_an_extension_is_never_shown_in_full(pbx: Pbx) -> None:
    with capture_logs() as logs:
        call = await pbx.emulator.place_call("+13125551001", "911")  # e.g. a transferred caller
        await pbx.wait_for(lambda: len(pbx.emergencies()) == 1)
    assert pbx.emergencies() == [EmergencyCallPlaced(call, "*******1001", None)]
    assert "3125551001" not in repr(logs)


async def test_other_user_events_raise_nothing_and_a_missing_id_is_made_unique(
    plan: Plan,
) -> None:
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "frontdesk", SECRET))  # never used
    runtime = CallRuntime(plan, ari, acd=False)
    facts: list[HubEvent] = []
    runtime.hub.add_listener(facts.append)
    runtime.on_ami_event(Event((("Event", "UserEvent"), ("UserEvent", "FrontdeskEscalation"))))
    assert facts == []
    emergency = (("Event", "UserEvent"), ("UserEvent", "FrontdeskEmergencyCall"))
    runtime.on_ami_event(Event((*emergency, ("Extension", "2001"))))
    runtime.on_ami_event(Event((*emergency, ("Extension", "2001"))))
    await runtime.close()
    await ari.close()
    first, second = facts
    assert isinstance(first, EmergencyCallPlaced)
    assert isinstance(second, EmergencyCallPlaced)
    assert (first.extension, first.name) == ("2001", "Ana Ruiz")
    assert first.call != second.call  # two alerts, acknowledged one by one
