"""End to end: the emulated Asterisk, the ARI client and the call runtime over real sockets.

Each test places a call the way a trunk would, presses keys as RFC 4733 DTMF, and checks
where the call went: the decision the daemon logged, and what Asterisk was told (channel
variables, `continue` back to the dialplan, the media it played).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.asterisk.ari_events import IGNORED_EVENTS
from frontdesk.calls.events import CallRouted, HubEvent
from frontdesk.calls.runtime import CallRuntime
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan, load_plan_text
from frontdesk.routing.directory import Directory, Patient
from tests.conftest import REFERENCE_DIRECTORY, local, reference_text

MAIN = "+13125550000"
REFILL_LINE = "+13125550010"
STAFF = ["2001", "2002", "2003", "2004", "2005", "2006"]
PASSWORD = "test-only-secret"


@dataclass
class Line:
    """A running daemon against an emulated PBX, with the practice clock under test control."""

    pbx: Emulator
    runtime: CallRuntime
    routed: list[CallRouted]
    clock: list[datetime]

    async def call(self, caller: str = "+17735550123", did: str = MAIN) -> str:
        return await self.pbx.place_call(caller=caller, did=did)

    async def snapshot(self, channel: str) -> dict[str, Any]:
        return await self.pbx.channel(channel)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.01)

    async def wait_menu_played(self, channel: str, prompt: str, times: int = 1) -> None:
        """Until `prompt` has been played `times` times on the channel."""
        media = f"sound:frontdesk/{prompt}"
        for _ in range(500):
            if (await self.snapshot(channel))["media"].count(media) >= times:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{prompt} was not played {times} time(s)")

    async def route_of(self, channel: str, timeout: float = 5.0) -> CallRouted:
        await self.wait_for(lambda: any(r.call == channel for r in self.routed), timeout)
        return next(r for r in self.routed if r.call == channel)

    async def handed_back(self, channel: str) -> dict[str, Any]:
        """The channel after the daemon set its variables and continued it in the dialplan."""
        for _ in range(500):
            snapshot = await self.snapshot(channel)
            if snapshot["continued_to"] is not None or not snapshot["in_stasis"]:
                return snapshot
            await asyncio.sleep(0.01)
        raise AssertionError("the call never left the Stasis app")


@contextlib.asynccontextmanager
async def open_line(plan: Plan) -> AsyncIterator[Line]:
    pbx = Emulator(ari_password=PASSWORD, ami_secret=PASSWORD, staff=STAFF, media_seconds=0.02)
    await pbx.start()
    url = f"http://127.0.0.1:{pbx.ari_port}/ari"
    ari = AriClient(AriConfig(url, "frontdesk", PASSWORD, backoff_initial=0.05))
    routed: list[CallRouted] = []
    clock = [local("2026-11-30 10:00")]
    runtime = CallRuntime(
        plan,
        ari,
        directory=Directory.from_csv(REFERENCE_DIRECTORY),
        now=lambda: clock[0],
        acd=False,  # every route goes back to the dialplan in channel variables
    )

    def on_routed(event: HubEvent) -> None:
        if isinstance(event, CallRouted):
            routed.append(event)

    runtime.hub.add_listener(on_routed)
    line = Line(pbx, runtime, routed, clock)
    task = asyncio.create_task(runtime.run())
    try:
        await line.wait_for(lambda: runtime.resyncs >= 1)
        yield line
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()
        await ari.close()
        await pbx.stop()
    assert pbx.violations == [], "the daemon sent a request Asterisk 22's ARI does not define"


@pytest.fixture
async def line(plan: Plan) -> AsyncIterator[Line]:
    async with open_line(plan) as opened:
        yield opened


def destination(routed: CallRouted) -> dict[str, Any]:
    return routed.decision.destination.as_json()


async def test_menu_leaf_goes_back_to_the_dialplan_with_the_route(line: Line) -> None:
    channel = await line.call(caller="+13125551001")  # P-1001, cardiology, English
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "2")
    routed = await line.route_of(channel)
    assert destination(routed) == {
        "kind": "queue",
        "queue": "billing",
        "skills": [],
        "priority": "normal",
    }
    snapshot = await line.handed_back(channel)
    assert snapshot["variables"]["FRONTDESK_ROUTE"] == "queue"
    assert snapshot["variables"]["FRONTDESK_DESTINATION"] == "billing"
    assert snapshot["variables"]["FRONTDESK_CATEGORY"] == "billing"
    assert snapshot["state"] == "Up"
    assert snapshot["media"][0] == "sound:frontdesk/emergency-notice"


async def test_barge_in_stops_the_menu(line: Line) -> None:
    channel = await line.call()
    await line.wait_menu_played(channel, "emergency-notice")
    await line.pbx.press(channel, "3")  # while the menu is still playing
    await line.wait_menu_played(channel, "menu-3-1")
    await line.pbx.press(channel, "2")
    routed = await line.route_of(channel)
    assert routed.decision.request.category == "clinical"
    assert destination(routed)["queue"] == "nurse_triage"
    stops = [r for r in line.pbx.requests if r["method"] == "DELETE" and "/playbacks/" in r["path"]]
    assert stops, "a key during a prompt stops the playback"


async def test_silent_caller_reaches_the_front_desk() -> None:
    quick = load_plan_text(reference_text().replace("timeout: 5s", "timeout: 1s"))
    async with open_line(quick) as line:
        channel = await line.call()
        routed = await line.route_of(channel, timeout=10)
        assert routed.decision.request.category == "unrouted"
        assert destination(routed)["queue"] == "front_desk"
        assert (await line.snapshot(channel))["media"].count("sound:frontdesk/menu-1") == 3


async def test_language_switch_and_known_patient_skip(line: Line) -> None:
    channel = await line.call(caller="(312) 555-1007")  # P-1007: Spanish, orthopedics
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "1")
    routed = await line.route_of(channel)
    assert routed.language == "es"
    assert destination(routed)["skills"] == ["orthopedics", "spanish"]
    snapshot = await line.handed_back(channel)
    assert snapshot["variables"]["FRONTDESK_LANGUAGE"] == "es"

    other = await line.call()
    await line.wait_menu_played(other, "language-es")
    await line.pbx.press(other, "9")
    await line.wait_menu_played(other, "menu-1", times=2)
    await line.pbx.press(other, "2")
    routed = await line.route_of(other)
    assert routed.language == "es"
    assert destination(routed)["skills"] == ["spanish"]


async def test_operator_key_in_a_submenu(line: Line) -> None:
    channel = await line.call()
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "4")
    await line.wait_menu_played(channel, "menu-4-4")
    await line.pbx.press(channel, "0")
    routed = await line.route_of(channel)
    assert routed.decision.request.category == "operator"
    assert destination(routed)["queue"] == "front_desk"


async def test_did_entry_skips_the_menu(line: Line) -> None:
    channel = await line.call(did=REFILL_LINE)
    routed = await line.route_of(channel)
    assert routed.decision.request.category == "refill"
    ours = [m for m in (await line.snapshot(channel))["media"] if m.startswith("sound:frontdesk/")]
    assert ours == ["sound:frontdesk/emergency-notice"]


async def test_after_hours_urgent_call_is_announced_and_transferred(line: Line) -> None:
    line.clock[0] = local("2026-11-30 20:00")
    channel = await line.call()
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "3")
    await line.wait_menu_played(channel, "menu-3-2")
    await line.pbx.press(channel, "1")
    routed = await line.route_of(channel)
    assert destination(routed)["target"] == "urgent_nurse_line"
    snapshot = await line.handed_back(channel)
    assert "sound:frontdesk/urgent-connect" in snapshot["media"]
    assert snapshot["variables"]["FRONTDESK_ROUTE"] == "transfer"
    assert snapshot["variables"]["FRONTDESK_DESTINATION"] == "PJSIP/+13125550199@trunk"


async def test_caller_hanging_up_ends_only_that_call(line: Line) -> None:
    first = await line.call()
    second = await line.call(caller="+13125551003")
    await line.wait_menu_played(first, "emergency-notice")
    await line.pbx.hangup(first)
    await line.wait_for(lambda: first not in line.runtime.sessions)
    await line.wait_menu_played(second, "menu-operator")
    await line.pbx.press(second, "2")
    assert destination(await line.route_of(second))["queue"] == "billing"


async def test_socket_dropped_mid_call_resyncs_and_the_call_continues(line: Line) -> None:
    channel = await line.call()
    gone = await line.call(caller="+13125551003")
    await line.wait_menu_played(channel, "menu-operator")
    resyncs = line.runtime.resyncs
    await line.pbx.drop_websockets()
    await line.pbx.hangup(gone)  # in the gap: no StasisEnd will ever arrive for it
    await line.wait_for(lambda: line.runtime.resyncs > resyncs)
    await line.wait_for(lambda: gone not in line.runtime.sessions)
    await line.pbx.press(channel, "2")
    assert destination(await line.route_of(channel))["queue"] == "billing"


async def test_calls_do_not_wait_for_each_other(line: Line) -> None:
    channels = [await line.call(caller=f"+1773555{n:04d}") for n in range(5)]
    for channel in channels:
        await line.wait_menu_played(channel, "menu-operator")
    for channel in channels:
        await line.pbx.press(channel, "2")
    for channel in channels:
        assert destination(await line.route_of(channel))["queue"] == "billing"


@pytest.mark.parametrize(
    "caller",
    [
        "+1312555\r\n1002",
        '"><script>alert(1)</script>',
        "${SHELL(rm -rf /)}",
        "Action: Originate\r\n",
    ],
)
async def test_hostile_caller_ids_are_an_unknown_caller(line: Line, caller: str) -> None:
    channel = await line.call(caller=caller)
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "2")
    routed = await line.route_of(channel)
    assert routed.facts.caller is None
    snapshot = await line.handed_back(channel)
    assert all("\n" not in v and "${" not in v for v in snapshot["variables"].values())


async def test_graceful_asterisk_shutdown_lets_the_last_call_finish(line: Line) -> None:
    channel = await line.call()
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.shutdown_gracefully()  # `core stop gracefully`: no new calls from now on
    await line.pbx.press(channel, "2")  # the call in progress is still served
    assert destination(await line.route_of(channel))["queue"] == "billing"
    await line.wait_for(lambda: not line.runtime.ari.connected, timeout=10)
    assert not line.runtime.sessions or all(s.ended for s in line.runtime.sessions.values())


async def test_the_database_lookup_finds_the_caller_before_the_menu(line: Line) -> None:
    async def lookup(number: str | None) -> Patient | None:
        return Patient("P-DB", "es", None) if number == "+17735550199" else None

    line.runtime.menu.lookup = lookup
    channel = await line.call(caller="(773) 555-0199")
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "2")
    routed = await line.route_of(channel)
    assert routed.facts.patient == Patient("P-DB", "es", None)
    assert routed.language == "es"


async def test_events_frontdesk_never_reads_are_not_sent(line: Line) -> None:
    """At connect the daemon asks Asterisk to leave out most of a call's events
    (ChannelVarset alone was 35 of 61 on the lab); routing works on what is left."""
    app = line.pbx.pbx.apps["frontdesk"]
    assert [f["type"] for f in app.events_disallowed] == list(IGNORED_EVENTS)
    assert app.allows("StasisStart")
    assert not app.allows("ChannelVarset")
    channel = await line.call(caller="+13125551001")
    await line.wait_menu_played(channel, "menu-operator")
    await line.pbx.press(channel, "2")
    assert destination(await line.route_of(channel))["queue"] == "billing"
