"""What the real PBX answers where the emulator had to be taught: recorded here, kept in
`tests/asterisk/recorded/` (with `FRONTDESK_LAB_RECORD=1`), replayed by the emulator's
tests.

- AMI: frontdesk's own user (asterisk-conf/manager.conf) is refused `Filter` and
  `PJSIPShowContacts` (both need `write = system`), and may send `UserEvent`.
- ARI: playing a sound that is not on disk: 201, then PlaybackStarted and
  PlaybackFinished with state `failed`; the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from frontdesk.asterisk.ari_events import IGNORED_EVENTS
from lab.harness import Lab
from lab.pbx import AMI_PORT, ARI_URL, ROOT

RECORDED = ROOT / "tests/asterisk/recorded"
APP = "lab-recorder"


def test_frontdesks_ami_user_is_refused_what_needs_write_system(lab: Lab) -> None:
    lines = asyncio.run(_ami_exchanges(lab.pbx.secrets.ami))
    replies = {
        line["action"]["Action"]: line["response"]
        for line in lines
        if line["kind"] == "ami_action_response"
    }
    assert replies["Login"]["Response"] == "Success"
    for refused in ("Filter", "PJSIPShowContacts"):
        assert replies[refused] == {
            "Response": "Error",
            "ActionID": replies[refused]["ActionID"],
            "Message": "Permission denied",
        }
    assert replies["UserEvent"]["Response"] == "Success"
    keep_recording(lines, "ami_frontdesk_user_permissions.jsonl")


def test_playing_a_sound_that_is_not_on_disk_fails_the_playback(lab: Lab) -> None:
    lines = asyncio.run(_missing_sound(lab.pbx.secrets.ari))
    kinds = [line["event"]["type"] for line in lines if line["kind"] == "ari_event"]
    played = [k for k in kinds if k.startswith("Playback")]
    assert played == ["PlaybackStarted", "PlaybackFinished"]
    finished = next(
        line["event"] for line in lines if line.get("event", {}).get("type") == "PlaybackFinished"
    )
    assert finished["playback"]["state"] == "failed"
    rest = next(line for line in lines if line["kind"] == "ari_rest" and "/play" in line["path"])
    assert rest["status"] == 201
    keep_recording(lines, "ari_play_missing_sound.jsonl")


def test_an_event_filter_keeps_the_unread_types_off_the_socket(lab: Lab) -> None:
    lines = asyncio.run(_filtered_events(lab.pbx.secrets.ari))
    put = next(line for line in lines if line["kind"] == "ari_rest" and line["method"] == "PUT")
    assert put["status"] == 200
    assert put["body"]["events_disallowed"] == [{"type": t} for t in IGNORED_EVENTS]
    assert put["body"]["events_allowed"] == []
    kinds = {line["event"]["type"] for line in lines if line["kind"] == "ari_event"}
    assert {"StasisStart", "StasisEnd"} <= kinds
    assert not kinds & set(IGNORED_EVENTS)  # ChannelVarset above all
    keep_recording(lines, "ari_event_filter.jsonl")


# -- the exchanges -----------------------------------------------------------------------------
async def _ami_exchanges(secret: str) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
    start = time.monotonic()
    lines: list[dict[str, Any]] = [
        {"kind": "ami_banner", "t": 0.0, "raw": (await reader.readline()).decode().strip()}
    ]
    actions = [
        {"Action": "Login", "Username": "frontdesk", "Secret": secret, "Events": "off"},
        {"Action": "Filter", "Operation": "Add", "Filter": "Event: Cdr"},
        {"Action": "PJSIPShowContacts"},
        {"Action": "UserEvent", "UserEvent": "FrontdeskLabProbe"},
    ]
    for n, action in enumerate(actions, 1):
        action = action | {"ActionID": f"lab-{n}"}
        writer.write("".join(f"{k}: {v}\r\n" for k, v in action.items()).encode() + b"\r\n")
        await writer.drain()
        raw = (await reader.readuntil(b"\r\n\r\n")).decode()
        response = dict(line.split(": ", 1) for line in raw.strip().split("\r\n"))
        shown = action | ({"Secret": "<the frontdesk secret>"} if "Secret" in action else {})
        lines.append(
            {
                "kind": "ami_action_response",
                "t": round(time.monotonic() - start, 3),
                "action": shown,
                "response": response,
                "raw": raw,
            }
        )
    writer.close()
    return lines


async def _missing_sound(password: str) -> list[dict[str, Any]]:
    """A channel of our own app (a staff phone rung and answered by its SIPp), then a play
    of one sound that exists and one that does not."""
    async with _AriRecording.open(password) as ari:
        channel = await ari.rest("POST", "/channels", {"endpoint": "PJSIP/2006", "app": APP})
        await ari.until("StasisStart")
        media = "sound:frontdesk/this-prompt-was-never-rendered"
        await ari.rest("POST", f"/channels/{channel['id']}/play", {"media": media})
        await ari.until("PlaybackFinished")
        await ari.rest("DELETE", f"/channels/{channel['id']}", {})
        await ari.until("StasisEnd")
        return ari.lines


def keep_recording(lines: list[dict[str, Any]], name: str) -> None:
    if os.environ.get("FRONTDESK_LAB_RECORD") != "1":
        return
    path = Path(RECORDED / name)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


async def _filtered_events(password: str) -> list[dict[str, Any]]:
    """Our app asks for no `IGNORED_EVENTS`, then a staff phone is rung, answered, given a
    variable (a ChannelVarset without the filter), played a sound and hung up."""
    async with _AriRecording.open(password) as ari:
        body = {"disallowed": [{"type": t} for t in IGNORED_EVENTS]}
        await ari.rest("PUT", f"/applications/{APP}/eventFilter", {}, body)
        channel = await ari.rest("POST", "/channels", {"endpoint": "PJSIP/2006", "app": APP})
        await ari.until("StasisStart")
        variable = {"variable": "FRONTDESK_LAB", "value": "1"}
        await ari.rest("POST", f"/channels/{channel['id']}/variable", variable)
        await ari.rest("POST", f"/channels/{channel['id']}/play", {"media": "sound:beep"})
        await ari.until("PlaybackFinished")
        await ari.rest("DELETE", f"/channels/{channel['id']}", {})
        await ari.until("StasisEnd")
        await ari.rest("PUT", f"/applications/{APP}/eventFilter", {})  # as it was
        return ari.lines


@dataclass
class _AriRecording:
    """The lab recorder app's REST requests and events, each kept as a line."""

    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    lines: list[dict[str, Any]] = field(default_factory=list)
    start: float = field(default_factory=time.monotonic)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, password: str) -> AsyncIterator[_AriRecording]:
        auth = {"Authorization": aiohttp.encode_basic_auth("frontdesk", password)}
        async with aiohttp.ClientSession(headers=auth) as session:
            ws_url = ARI_URL.replace("http", "ws", 1) + f"/events?app={APP}&subscribeAll=false"
            async with session.ws_connect(ws_url) as ws:
                yield cls(session, ws)

    def _at(self) -> float:
        return round(time.monotonic() - self.start, 3)

    async def rest(self, method: str, path: str, query: dict[str, str], body: Any = None) -> Any:
        url = ARI_URL + path
        async with self.session.request(method, url, params=query, json=body) as response:
            answer = await response.json() if response.content_length else None
            line = {"kind": "ari_rest", "t": self._at(), "method": method}
            line |= {"path": "/ari" + path, "query": query}
            if body is not None:
                line["body_sent"] = body
            self.lines.append(line | {"status": response.status, "body": answer})
            return answer

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads((await self.ws.receive(timeout=15)).data)
            self.lines.append({"kind": "ari_event", "t": self._at(), "event": event})
            if event["type"] == kind:
                return event
