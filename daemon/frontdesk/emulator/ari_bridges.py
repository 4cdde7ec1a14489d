"""`/bridges` handlers."""

from __future__ import annotations

import uuid

from frontdesk.emulator import bridging, media
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.model import Channel, Playback
from frontdesk.emulator.rest import Call, Reply, handler, no_content, ok


@handler("bridges.list")
def list_bridges(call: Call) -> Reply:
    return ok([b.json() for b in call.pbx.bridges.values()])


@handler("bridges.create")
@handler("bridges.createWithId")
def create(call: Call) -> Reply:
    bridge_id = call.path.get("bridgeId") or call.text("bridgeId")
    bridge = bridging.create(call.pbx, call.text("type"), bridge_id, call.text("name"))
    return ok(bridge.json())


@handler("bridges.get")
def get(call: Call) -> Reply:
    return ok(call.pbx.bridge(call.path["bridgeId"]).json())


@handler("bridges.destroy")
def destroy(call: Call) -> Reply:
    bridging.destroy(call.pbx, call.pbx.bridge(call.path["bridgeId"]))
    return no_content()


def _controls(call: Call) -> list[Channel]:
    """`control_list_create`: 400 unknown channel, 422 channel not in Stasis."""
    ids = call.items("channel")
    if not ids:
        raise AriError(400, "Missing parameter channel")
    out = []
    for channel_id in ids:
        ch = call.pbx.channels.get(channel_id)
        if ch is None:
            raise AriError(400, "Channel not found")
        if ch.stasis_app is None or ch.hangup_requested:
            raise AriError(422, "Channel not in Stasis application")
        out.append(ch)
    return out


@handler("bridges.addChannel")
def add_channel(call: Call) -> Reply:
    bridge = call.pbx.bridge(call.path["bridgeId"])
    bridging.add(call.pbx, bridge, _controls(call))
    return no_content()


@handler("bridges.removeChannel")
def remove_channel(call: Call) -> Reply:
    bridge = call.pbx.bridge(call.path["bridgeId"])
    bridging.remove(call.pbx, bridge, _controls(call))
    return no_content()


@handler("bridges.startMoh")
def start_moh(call: Call) -> Reply:
    bridging.start_moh(call.pbx, call.pbx.bridge(call.path["bridgeId"]), call.text("mohClass"))
    return no_content()


@handler("bridges.stopMoh")
def stop_moh(call: Call) -> Reply:
    bridging.stop_moh(call.pbx.bridge(call.path["bridgeId"]))
    return no_content()


@handler("bridges.play")
@handler("bridges.playWithId")
def play(call: Call) -> Reply:
    bridge = call.pbx.bridge(call.path["bridgeId"])
    playback_id = call.path.get("playbackId") or call.text("playbackId")
    uris = call.items("media")
    media.check_play_ids(call.pbx, playback_id, uris)
    call.pbx.ids.skip_unique(2)  # the Announcer channel pair that plays into the bridge
    target = f"bridge:{bridge.id}"
    playback = Playback(playback_id or str(uuid.uuid4()), uris, target, call.text("lang") or "en")
    body = playback.json()
    media.queue(call.pbx, playback)
    return Reply(201, body, headers={"Location": f"/playbacks/{playback.id}"})
