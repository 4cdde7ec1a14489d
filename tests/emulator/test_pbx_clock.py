"""The emulated PBX's own clock zone (`pbx_timezone`, default UTC as in a container), and
AMI `CoreStatus` as the real Asterisk 22.10.1 answers it
(tests/asterisk/recorded/ami_core_status.jsonl, recorded by lab/pbx_clock_probe.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.ami_access import FRONTDESK
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ami, Ari, field_names, parse_block

RECORDED = Path(__file__).parents[1] / "asterisk/recorded/ami_core_status.jsonl"


def recorded(kind: str, **match: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    return [
        line
        for line in lines
        if line["kind"] == kind and all(line.get(k) == v for k, v in match.items())
    ]


@pytest.fixture(params=["UTC", "America/Chicago", "Asia/Kolkata"])
async def zoned(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    emulator = Emulator(staff=["2001"], pbx_timezone=request.param, **FAST)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def core_status(emu: Emulator) -> bytes:
    ami = await Ami.connect(emu)
    await ami.login(events="off")
    ami.send(("Action", "CoreStatus"), ("ActionID", "clock-2"))
    try:
        return await ami.block()
    finally:
        ami.close()


async def test_core_status_has_the_recorded_fields_in_the_recorded_order(zoned: Emulator) -> None:
    (real,) = recorded("ami_action_response", tz="UTC", user="lab", action={"Action": "CoreStatus", "ActionID": "clock-2"})  # fmt: skip
    raw = await core_status(zoned)
    assert field_names(raw) == field_names(real["raw"].encode())
    fields = parse_block(raw)
    # PBX-local wall time of the start: the emulator's zone, not UTC, not the practice's.
    started = datetime.fromtimestamp(zoned.pbx.started, zoned.pbx.zone)
    assert fields["CoreStartupDate"] == started.strftime("%Y-%m-%d")
    assert fields["CoreStartupTime"] == started.strftime("%H:%M:%S")
    assert (fields["CoreReloadDate"], fields["CoreReloadTime"]) == (
        fields["CoreStartupDate"],
        fields["CoreStartupTime"],
    )


async def test_frontdesks_own_user_is_refused_core_status_as_recorded() -> None:
    (real,) = recorded("ami_action_response", tz="UTC", user="frontdesk", action={"Action": "CoreStatus", "ActionID": "clock-2"})  # fmt: skip
    async with Emulator(**{**FAST, "ami_access": FRONTDESK}) as emu:  # type: ignore[arg-type]
        assert (await core_status(emu)).decode() == real["raw"]


async def test_ping_and_cdr_times_are_in_the_pbx_zone(zoned: Emulator) -> None:
    """ARI's ping carries the zone's offset (as recorded: `-0500`, `+0530`); a Cdr's times
    are that zone's wall time without one."""
    async with aiohttp.ClientSession() as session:
        status, body = await Ari(zoned, session).request("GET", "/ari/asterisk/ping")
    assert status == 200
    pbx_now = datetime.fromisoformat(body["timestamp"])
    assert pbx_now.utcoffset() == datetime.now(zoned.pbx.zone).utcoffset()
    assert abs(pbx_now - datetime.now(UTC)) < timedelta(seconds=2)
    ami = await Ami.connect(zoned)
    await ami.login()
    channel = await zoned.place_call("+13125550101", "5550100")
    await zoned.hangup(channel)
    cdr = await ami.until("Cdr", UniqueID=channel)
    ami.close()
    end = datetime.fromisoformat(cdr["EndTime"])
    assert end.tzinfo is None
    assert abs(end.replace(tzinfo=zoned.pbx.zone) - datetime.now(UTC)) < timedelta(seconds=2)


def test_the_real_pbx_writes_its_local_time_where_the_emulator_does() -> None:
    """The recording itself: with /etc/localtime of each zone, the ping's offset, the
    CoreStatus start and the Cdr's EndTime are that zone's (TZ alone changed nothing)."""
    for zone, offset in (("UTC", "+0000"), ("America/New_York", "-0500"), ("Asia/Kolkata", "+0530")):  # fmt: skip
        (ping,) = [r for r in recorded("ari_rest", tz=zone) if r["path"] == "/ari/asterisk/ping"]
        assert ping["body"]["timestamp"].endswith(offset)
        (cdr,) = [e for e in recorded("ami_event", tz=zone) if e["raw"].startswith("Event: Cdr")]
        end = datetime.fromisoformat(parse_block(cdr["raw"].encode())["EndTime"])
        received = datetime.fromisoformat(cdr["received_utc"])
        pbx_offset = datetime.fromisoformat(ping["body"]["timestamp"]).utcoffset()
        assert pbx_offset is not None
        assert abs(end - pbx_offset - received.replace(tzinfo=None)) < timedelta(seconds=2)
