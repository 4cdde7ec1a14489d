"""`PUT /applications/{app}/eventFilter` as Asterisk 22.10.1 does it (res/stasis/app.c):
a disallowed type never reaches the app's socket, the lists show in the app's JSON, an
empty body clears them, a malformed list is a 400."""

from __future__ import annotations

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ari

NOISY = {"disallowed": [{"type": "ChannelVarset"}, {"type": "ChannelDialplan"}]}


async def test_a_disallowed_type_never_reaches_the_socket(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    status, app = await ari.request(
        "PUT", "/ari/applications/frontdesk/eventFilter", json_body=NOISY
    )
    assert status == 200
    assert app["events_disallowed"] == NOISY["disallowed"]
    assert app["events_allowed"] == []
    call = await emu.place_call("+13125550105", "5550305")
    await events.until("StasisStart", channel__id=call)
    params = {"variable": "FOO", "value": "bar"}
    assert (await ari.request("POST", f"/ari/channels/{call}/variable", params))[0] == 204
    await ari.request("DELETE", f"/ari/channels/{call}")
    await events.until("StasisEnd", channel__id=call)
    kinds = {event["type"] for event in events.seen}
    assert "ChannelVarset" not in kinds
    assert "ChannelDialplan" not in kinds
    assert "ChannelHangupRequest" in kinds or "ChannelDestroyed" in kinds


async def test_an_allowed_list_lets_only_its_types_through(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    allowed = {"allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}]}
    assert (await ari.request("PUT", "/ari/applications/frontdesk/eventFilter", json_body=allowed))[
        0
    ] == 200
    call = await emu.place_call("+13125550105", "5550305")
    await ari.request("DELETE", f"/ari/channels/{call}")
    await events.until("StasisEnd", channel__id=call)
    assert [e["type"] for e in events.seen] == ["StasisStart", "StasisEnd"]


async def test_one_list_given_leaves_the_other_and_an_empty_body_clears_both(
    emu: Emulator, ari: Ari
) -> None:
    await ari.events()
    path = "/ari/applications/frontdesk/eventFilter"
    await ari.request("PUT", path, json_body=NOISY)
    allowed = {"allowed": [{"type": "StasisStart"}]}
    _, app = await ari.request("PUT", path, json_body=allowed)
    assert (app["events_allowed"], app["events_disallowed"]) == (
        allowed["allowed"],
        NOISY["disallowed"],
    )
    _, app = await ari.request("PUT", path)
    assert (app["events_allowed"], app["events_disallowed"]) == ([], [])


async def test_a_malformed_filter_is_refused(emu: Emulator, ari: Ari) -> None:
    await ari.events()
    path = "/ari/applications/frontdesk/eventFilter"
    for body in ({"disallowed": "ChannelVarset"}, {"disallowed": [{"kind": "ChannelVarset"}]}):
        assert await ari.request("PUT", path, json_body=body) == (
            400,
            {"message": "Invalid format definition"},
        )
    assert (await ari.request("PUT", "/ari/applications/nobody/eventFilter", json_body=NOISY))[
        0
    ] == 404
