"""The PBX's zone (asterisk/pbx_clock.py): read from what the real Asterisk 22.10.1 sent
(tests/asterisk/recorded/ami_core_status.jsonl, three zones), then learned over real
sockets from the emulator at each AMI connect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.asterisk.pbx_clock import (
    PbxClock,
    Reading,
    core_status_reading,
    offset_text,
    ping_reading,
    round_offset,
)
from frontdesk.emulator import Emulator
from frontdesk.emulator.ami_access import LAB

RECORDED = Path(__file__).parent / "recorded/ami_core_status.jsonl"
OFFSETS = {"UTC": timedelta(0), "America/New_York": timedelta(hours=-5),
           "Asia/Kolkata": timedelta(hours=5, minutes=30)}  # fmt: skip


def _lines(zone: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    return [line for line in lines if line["tz"] == zone]


def _fields(raw: str) -> dict[str, str]:
    return dict(row.split(": ", 1) for row in raw.strip().split("\r\n"))


@pytest.mark.parametrize("zone", sorted(OFFSETS))
def test_the_recorded_ping_gives_the_pbx_offset(zone: str) -> None:
    (ping,) = [x for x in _lines(zone) if x.get("path") == "/ari/asterisk/ping"]
    reading = ping_reading(ping["body"], datetime.fromisoformat(ping["received_utc"]))
    assert reading is not None
    assert (reading.offset, reading.source) == (OFFSETS[zone], "ari_ping")
    assert reading.skew_s is not None
    assert abs(reading.skew_s) < 1


@pytest.mark.parametrize("zone", sorted(OFFSETS))
def test_the_recorded_core_status_and_uptime_give_the_same_offset(zone: str) -> None:
    lab = [x for x in _lines(zone) if x.get("user") == "lab"]
    booted = next(x for x in lab if x["raw"].startswith("Event: FullyBooted"))
    status = next(x for x in lab if x.get("action", {}).get("Action") == "CoreStatus")
    uptime = int(_fields(booted["raw"])["Uptime"])
    came = datetime.fromisoformat(booted["received_utc"]).timestamp()
    reading = core_status_reading(
        status["response"], (uptime, came), datetime.fromisoformat(status["received_utc"])
    )
    assert reading is not None
    assert (reading.offset, reading.source) == (OFFSETS[zone], "core_status")


@pytest.mark.parametrize("zone", sorted(OFFSETS))
def test_frontdesks_ami_user_is_refused_core_status(zone: str) -> None:
    (refused,) = [
        x
        for x in _lines(zone)
        if x.get("user") == "frontdesk" and x.get("action", {}).get("Action") == "CoreStatus"
    ]
    assert refused["response"]["Message"] == "Permission denied"


def test_offsets_round_to_the_quarter_hour() -> None:
    assert round_offset(timedelta(hours=5, minutes=29, seconds=58)) == timedelta(hours=5.5)
    assert round_offset(timedelta(hours=-6, seconds=3)) == timedelta(hours=-6)
    assert round_offset(timedelta(minutes=7)) == timedelta(0)
    assert round_offset(timedelta(hours=5, minutes=45, seconds=-4)) == timedelta(hours=5.75)
    assert offset_text(timedelta(hours=-6)) == "-06:00"
    assert offset_text(timedelta(hours=5.5)) == "+05:30"


def test_garbage_is_no_reading() -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    assert ping_reading({"timestamp": "2026-12-05T05:31:38.000"}, at) is None  # no offset
    assert ping_reading({"timestamp": "yesterday"}, at) is None
    assert ping_reading(None, at) is None
    assert ping_reading({"timestamp": "2026-12-05T05:31:38.000+2300"}, at) is None
    assert core_status_reading({"CoreStartupDate": "2026-12-05"}, (1, at.timestamp()), at) is None
    assert core_status_reading({"CoreStartupDate": "x", "CoreStartupTime": "y"}, None, at) is None


def test_the_setting_wins_and_a_disagreeing_pbx_is_a_warning() -> None:
    now = datetime(2026, 7, 1, 12, tzinfo=UTC)
    clock = PbxClock(ZoneInfo("America/Chicago"), utc=lambda: now)
    with capture_logs() as logs:
        clock.learned(Reading(timedelta(0), "ari_ping", now), None, quiet=False)
    assert clock.zone == ZoneInfo("America/Chicago")  # DST and all: the zone itself
    (entry,) = logs
    assert entry["event"] == "ami.pbx_clock_disagrees"
    assert (entry["offset"], entry["learned"], entry["from_setting"]) == ("-05:00", "+00:00", True)


def test_unknown_then_learned_then_a_dst_change_between_connects() -> None:
    now = datetime(2026, 11, 1, 6, tzinfo=UTC)
    clock = PbxClock(utc=lambda: now)
    with capture_logs() as logs:
        clock.learned(None, None, quiet=False)
        assert clock.zone is None  # the Cdr then writes no time
        clock.learned(Reading(timedelta(hours=-5), "ari_ping", now), None, quiet=False)
        assert clock.zone == timezone(timedelta(hours=-5))
        clock.learned(Reading(timedelta(hours=-5), "ari_ping", now), None, quiet=True)  # same
        clock.learned(None, None, quiet=True)  # a refresh that got nothing keeps the last
        assert clock.zone == timezone(timedelta(hours=-5))
        clock.learned(Reading(timedelta(hours=-6), "ari_ping", now), None, quiet=True)
        assert clock.zone == timezone(timedelta(hours=-6))
    assert [(x["event"], x["offset"], x["log_level"]) for x in logs] == [
        ("ami.pbx_clock", None, "warning"),
        ("ami.pbx_clock", "-05:00", "info"),
        ("ami.pbx_clock", "-06:00", "info"),
    ]


@pytest.mark.parametrize(
    ("zone", "user", "source"),
    [("Asia/Kolkata", "frontdesk", "ari_ping"), ("America/Chicago", "lab", "ari_ping")],
)
async def test_learned_at_each_ami_connect_from_the_emulator(
    zone: str, user: str, source: str
) -> None:
    access = {"ami_access": LAB} if user == "lab" else {}
    async with Emulator(staff=["2001"], pbx_timezone=zone, **access) as emu:  # type: ignore[arg-type]
        ami = AmiClient(AmiSettings(port=emu.ami_port, username="frontdesk", secret="secret"))
        ari = AriClient(AriConfig(emu.ari_url, "frontdesk", "secret"))
        try:
            with capture_logs() as logs:
                await ami.start()
                clock = PbxClock()
                clock.watch(ami, ari)
                assert clock._task is not None
                await clock._task
            expected = datetime.now(ZoneInfo(zone)).utcoffset()
            assert clock.zone == timezone(expected or timedelta(0))
            (entry,) = [x for x in logs if x["event"] == "ami.pbx_clock"]
            assert (entry["source"], entry["from_setting"]) == (source, False)
            # CoreStatus: refused to frontdesk's user (as on the real PBX), else the start.
            assert (entry["startup_offset"] is None) == (user == "frontdesk")
            assert clock.core_status_refused == (user == "frontdesk")  # not asked again
        finally:
            await ami.close()
            await ari.close()


async def test_core_status_alone_when_the_ping_gives_nothing() -> None:
    async with Emulator(staff=["2001"], pbx_timezone="Asia/Kolkata", ami_access=LAB) as emu:
        ami = AmiClient(AmiSettings(port=emu.ami_port, username="frontdesk", secret="secret"))
        try:
            await ami.start()
            clock = PbxClock()
            await clock.learn(ami, None)
        finally:
            await ami.close()
    assert clock.reading is not None
    assert (clock.reading.source, clock.reading.offset) == ("core_status", OFFSETS["Asia/Kolkata"])
