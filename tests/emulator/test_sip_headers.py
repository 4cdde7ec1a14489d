"""`PJSIP_HEADER(read,NAME)` over ARI: headers of the inbound INVITE, as Asterisk 22 reads
them (res_pjsip_header_funcs: case-insensitive names; an absent header fails the read,
which ARI answers 500 "Unable to read provided function")."""

from __future__ import annotations

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ari

ROUTE_TIME = "2026-12-24T09:00:00-06:00"
VARIABLE = "/ari/channels/{}/variable"


async def _read(ari: Ari, channel_id: str, name: str) -> tuple[int, object]:
    return await ari.request("GET", VARIABLE.format(channel_id), {"variable": name})


async def test_a_header_placed_through_the_control_api_is_readable(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    async with ari.session.post(
        f"{ari.base}/_emulator/calls",
        json={
            "caller": "+13125559901",
            "did": "5550100",
            "headers": {"X-Frontdesk-Route-Time": ROUTE_TIME},
        },
    ) as response:
        assert response.status == 200
        channel_id = (await response.json())["channel_id"]
    await events.until("StasisStart", channel__id=channel_id)
    read = await _read(ari, channel_id, "PJSIP_HEADER(read,X-Frontdesk-Route-Time)")
    assert read == (200, {"value": ROUTE_TIME})
    # header names are case-insensitive in SIP and in Asterisk's lookup
    lower = await _read(ari, channel_id, "PJSIP_HEADER(read,x-frontdesk-route-time)")
    assert lower == (200, {"value": ROUTE_TIME})
    assert emu.violations == []


async def test_an_absent_header_fails_the_read_like_asterisk(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    channel_id = await emu.place_call("+13125559901", "5550100")
    await events.until("StasisStart", channel__id=channel_id)
    failed = (500, {"message": "Unable to read provided function"})
    assert await _read(ari, channel_id, "PJSIP_HEADER(read,X-Frontdesk-Route-Time)") == failed
    assert await _read(ari, channel_id, "PJSIP_HEADER(read)") == failed
    # a plain variable of that name is a different thing: 404
    assert await _read(ari, channel_id, "X-Frontdesk-Route-Time") == (
        404,
        {"message": "Provided variable was not found"},
    )


async def test_headers_must_be_an_object(ari: Ari) -> None:
    async with ari.session.post(
        f"{ari.base}/_emulator/calls",
        json={"caller": "+13125559901", "did": "5550100", "headers": ["X-A: 1"]},
    ) as response:
        assert response.status == 400
