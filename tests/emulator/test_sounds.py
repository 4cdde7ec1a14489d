"""Missing sound files, as Asterisk 22 plays them: 201, PlaybackStarted, then at once
PlaybackContinuing (more media follow) or PlaybackFinished with state `failed` (the
sequences below are those a real Asterisk 22.10.1 sent for the same requests)."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import frontdesk
from frontdesk.emulator import Emulator
from frontdesk.emulator.sounds import CORE_SOUNDS, Sounds, candidates
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ari, call_in_stasis


def test_lookup_order_is_asterisks() -> None:
    # main/file.c fileexists_core: language, without dialect, no language, then en.
    assert candidates("frontdesk/menu-1", "es_MX") == [
        "es_MX/frontdesk/menu-1",
        "es/frontdesk/menu-1",
        "frontdesk/menu-1",
        "en/frontdesk/menu-1",
    ]
    assert candidates("beep", "en") == ["en/beep", "beep"]
    assert candidates("/var/lib/x", "es") == ["/var/lib/x"]


def test_strict_sounds_from_names_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "es" / "frontdesk").mkdir(parents=True)
    (tmp_path / "es" / "frontdesk" / "menu-1.wav").write_bytes(b"")
    sounds = Sounds(["frontdesk/please-hold"], tmp_path)
    assert sounds.exists("frontdesk/menu-1", "es")
    assert sounds.exists("frontdesk/menu-1", "es_MX")
    assert not sounds.exists("frontdesk/menu-1", "en")  # Spanish only
    assert sounds.exists("frontdesk/please-hold", "en")
    assert sounds.exists("beep", "es")  # a core sound, found under en/
    assert not sounds.exists("frontdesk/menu-[1]", "es")  # glob characters are literal
    assert sounds.playable("digits:123", "en")  # only sound: URIs are checked
    assert not sounds.playable("sound:frontdesk/nope", "en")
    assert Sounds().exists("anything/at-all", "fr")  # the default: permissive
    assert "queue-youarenext" in CORE_SOUNDS


def test_every_core_sound_the_daemon_plays_is_one_the_emulator_has() -> None:
    played: set[str] = set()
    package = Path(frontdesk.__file__).parent
    for path in package.rglob("*.py"):
        if "emulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("sound:")
                and not node.value.startswith("sound:frontdesk/")
            ):
                played.add(node.value.removeprefix("sound:"))
    assert {"beep", "invalid", "queue-youarenext"} <= played
    assert played <= CORE_SOUNDS, played - CORE_SOUNDS


@pytest.fixture
async def strict() -> AsyncIterator[Emulator]:
    emulator = Emulator(staff=["2001"], sounds=["frontdesk/menu-1"], **FAST)  # type: ignore[arg-type]
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def strict_ari(strict: Emulator) -> AsyncIterator[Ari]:
    async with aiohttp.ClientSession() as session:
        yield Ari(strict, session)


async def test_a_missing_last_file_fails_the_playback(strict: Emulator, strict_ari: Ari) -> None:
    channel_id, events = await call_in_stasis(strict, strict_ari)
    status, body = await strict_ari.request(
        "POST", f"/ari/channels/{channel_id}/play/p1", {"media": "sound:frontdesk/missing"}
    )
    assert (status, body["state"]) == (201, "queued")  # no check before playing
    got = [(e["type"], e["playback"]["state"]) for e in await events.take(2)]
    assert got == [("PlaybackStarted", "playing"), ("PlaybackFinished", "failed")]
    snapshot = await strict.channel(channel_id)
    assert snapshot["failed_media"] == ["sound:frontdesk/missing"]
    assert await strict_ari.request("GET", "/ari/playbacks/p1") == (
        404,
        {"message": "Playback not found"},
    )
    assert strict.violations == []


RECORDED = Path(__file__).parent.parent / "asterisk/recorded/ari_play_missing_sound.jsonl"


async def test_a_missing_sound_as_the_real_pbx_answered(strict: Emulator, strict_ari: Ari) -> None:
    """Replays `make lab`'s recording (Asterisk 22.10.1, a sound never rendered): the play
    request's reply and the playback events, field for field but ids."""
    lines = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    real_reply = next(r for r in lines if r["kind"] == "ari_rest" and r["path"].endswith("/play"))
    real_events = [
        line["event"]
        for line in lines
        if line["kind"] == "ari_event" and line["event"]["type"].startswith("Playback")
    ]
    channel_id, events = await call_in_stasis(strict, strict_ari)
    media = real_reply["query"]["media"]
    status, body = await strict_ari.request(
        "POST", f"/ari/channels/{channel_id}/play", {"media": media}
    )
    assert status == real_reply["status"]

    def shape(value: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in value.items() if k not in ("id", "target_uri")}

    assert shape(body) == shape(real_reply["body"])
    got = await events.take(len(real_events))
    assert [e["type"] for e in got] == [e["type"] for e in real_events]
    assert [list(e) for e in got] == [list(e) for e in real_events]  # keys in order
    assert [shape(e["playback"]) for e in got] == [shape(e["playback"]) for e in real_events]


async def test_a_missing_file_among_others_is_skipped(strict: Emulator, strict_ari: Ari) -> None:
    channel_id, events = await call_in_stasis(strict, strict_ari)
    path = f"/ari/channels/{channel_id}/play"
    media = "sound:frontdesk/missing,sound:frontdesk/menu-1,sound:frontdesk/gone-too"
    await strict_ari.request("POST", path, {"media": media, "playbackId": "p1"})
    await strict_ari.request("POST", path, {"media": "sound:beep", "playbackId": "p2"})
    got = [
        (e["type"], e["playback"]["id"], e["playback"]["media_uri"], e["playback"]["state"])
        for e in await events.take(8)
    ]
    assert got == [
        ("PlaybackStarted", "p1", "sound:frontdesk/missing", "playing"),
        ("PlaybackContinuing", "p1", "sound:frontdesk/missing", "continuing"),
        ("PlaybackStarted", "p1", "sound:frontdesk/menu-1", "playing"),
        ("PlaybackContinuing", "p1", "sound:frontdesk/menu-1", "continuing"),
        ("PlaybackStarted", "p1", "sound:frontdesk/gone-too", "playing"),
        ("PlaybackFinished", "p1", "sound:frontdesk/gone-too", "failed"),
        ("PlaybackStarted", "p2", "sound:beep", "playing"),  # the next one still plays
        ("PlaybackFinished", "p2", "sound:beep", "done"),
    ]


async def test_sounds_registered_later_and_by_language(strict: Emulator, strict_ari: Ari) -> None:
    strict.add_sounds(["es/frontdesk/hola"])
    channel_id, events = await call_in_stasis(strict, strict_ari)
    path = f"/ari/channels/{channel_id}/play"
    await strict_ari.request("POST", path, {"media": "sound:frontdesk/hola", "lang": "es"})
    assert [e["playback"]["state"] for e in await events.take(2)] == ["playing", "done"]
    await strict_ari.request("POST", path, {"media": "sound:frontdesk/hola", "lang": "en"})
    assert [e["playback"]["state"] for e in await events.take(2)] == ["playing", "failed"]


async def test_permissive_by_default(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/play", {"media": "sound:whatever"})
    assert [e["playback"]["state"] for e in await events.take(2)] == ["playing", "done"]
