"""`/applications`, `/endpoints`, `/asterisk`, `/playbacks`, `/recordings`, `/events/user`."""

from __future__ import annotations

import platform
from typing import Any

from frontdesk.emulator import endpoints, media
from frontdesk.emulator.clock import ari_time, now
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ari_event
from frontdesk.emulator.model import StoredRecording
from frontdesk.emulator.rest import Call, Reply, handler, no_content, ok

VERSION = "22.10.1"


# -- applications ------------------------------------------------------------------------
@handler("applications.list")
def list_applications(call: Call) -> Reply:
    return ok([app.json() for app in call.pbx.apps.values()])


@handler("applications.get")
def get_application(call: Call) -> Reply:
    return ok(call.pbx.app(call.path["applicationName"]).json())


@handler("applications.subscribe")
def subscribe(call: Call) -> Reply:
    app = call.pbx.app(call.path["applicationName"])
    endpoints.subscribe(call.pbx, app, call.items("eventSource"))
    return ok(app.json())


@handler("applications.unsubscribe")
def unsubscribe(call: Call) -> Reply:
    app = call.pbx.app(call.path["applicationName"])
    endpoints.unsubscribe(call.pbx, app, call.items("eventSource"))
    return ok(app.json())


@handler("applications.filter")
def filter_events(call: Call) -> Reply:
    """Asterisk 22's rules (res/stasis/app.c): an empty body clears both lists; otherwise
    each list given replaces its own (disallowed first: a bad allowed list still leaves
    the new disallowed one set); an entry without a `type` is a 400."""
    app = call.pbx.app(call.path["applicationName"])
    given = {k: v for k, v in call.args.items() if k in ("allowed", "disallowed")}
    if not call.args:
        app.events_allowed, app.events_disallowed = [], []
    for key in ("disallowed", "allowed"):
        if key in given:
            setattr(app, f"events_{key}", _event_types(given[key]))
    return ok(app.json())


def _event_types(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise AriError(400, "Invalid format definition")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not item["type"]:
            raise AriError(400, "Invalid format definition")
    return [dict(item) for item in value]


# -- endpoints ---------------------------------------------------------------------------
@handler("endpoints.list")
def list_endpoints(call: Call) -> Reply:
    pbx = call.pbx
    return ok([p.json(pbx.endpoint_channel_ids(p.name)) for p in pbx.phones.values()])


@handler("endpoints.listByTech")
def list_by_tech(call: Call) -> Reply:
    tech = call.path["tech"]
    if tech != "PJSIP":
        raise AriError(404, f"No Endpoints found - invalid tech {tech}")
    return list_endpoints(call)


@handler("endpoints.get")
def get_endpoint(call: Call) -> Reply:
    phone = call.pbx.phones.get(call.path["resource"])
    if call.path["tech"] != "PJSIP" or phone is None:
        raise AriError(404, "Endpoint not found")
    return ok(phone.json(call.pbx.endpoint_channel_ids(phone.name)))


# -- asterisk ----------------------------------------------------------------------------
@handler("asterisk.getInfo")
def info(call: Call) -> Reply:
    pbx = call.pbx
    sections: dict[str, Any] = {
        "build": {
            "os": platform.system(),
            "kernel": platform.release(),
            "machine": platform.machine(),
            "options": "",
            "date": ari_time(pbx.started, pbx.zone),
            "user": "root",
        },
        "system": {"version": VERSION, "entity_id": pbx.config.asterisk_id},
        "config": {
            "name": pbx.config.system_name,
            "default_language": "en",
            "setid": {"user": "", "group": ""},
        },
        "status": {
            "startup_time": ari_time(pbx.started, pbx.zone),
            "last_reload_time": ari_time(pbx.started, pbx.zone),
        },
    }
    only = call.items("only")
    return ok({k: v for k, v in sections.items() if not only or k in only})


@handler("asterisk.ping")
def ping(call: Call) -> Reply:
    body = {
        "asterisk_id": call.pbx.config.asterisk_id,
        "ping": "pong",
        "timestamp": ari_time(now(), call.pbx.zone),  # the PBX's local time, its offset
    }
    return ok(body)


@handler("asterisk.getGlobalVar")
def get_global(call: Call) -> Reply:
    name = call.text("variable")
    if not name:
        raise AriError(400, "Variable name is required")
    return ok({"value": call.pbx.globals.get(name, "")})


@handler("asterisk.setGlobalVar")
def set_global(call: Call) -> Reply:
    name = call.text("variable")
    if not name:
        raise AriError(400, "Variable name is required")
    call.pbx.globals[name] = call.raw("value") or ""
    return no_content()


# -- playbacks ---------------------------------------------------------------------------
@handler("playbacks.get")
def get_playback(call: Call) -> Reply:
    playback = call.pbx.playbacks.get(call.path["playbackId"])
    if playback is None:
        raise AriError(404, "Playback not found")
    return ok(playback.json())


@handler("playbacks.stop")
def stop_playback(call: Call) -> Reply:
    playback = call.pbx.playbacks.get(call.path["playbackId"])
    if playback is None:
        raise AriError(404, "Playback not found")
    media.stop(call.pbx, playback)
    return no_content()


@handler("playbacks.control")
def control_playback(call: Call) -> Reply:
    playback = call.pbx.playbacks.get(call.path["playbackId"])
    if playback is None:
        raise AriError(404, "Playback not found")
    if call.text("operation") not in ("restart", "pause", "unpause", "reverse", "forward"):
        raise AriError(400, "Invalid operation parameter")
    if playback.state not in ("playing", "continuing"):
        raise AriError(409, "Playback not currently playing")
    return no_content()


# -- recordings --------------------------------------------------------------------------
def _live(call: Call) -> Any:
    recording = call.pbx.live.get(call.path["recordingName"])
    if recording is None:
        raise AriError(404, "Recording not found")
    return recording


def _stored(call: Call) -> StoredRecording:
    recording = call.pbx.stored.get(call.path["recordingName"])
    if recording is None:
        raise AriError(404, "Recording not found")
    return recording


@handler("recordings.getLive")
def get_live(call: Call) -> Reply:
    return ok(_live(call).json())


@handler("recordings.stop")
def stop_recording(call: Call) -> Reply:
    media.finish_recording(call.pbx, _live(call))
    return no_content()


@handler("recordings.cancel")
def cancel_recording(call: Call) -> Reply:
    media.finish_recording(call.pbx, _live(call), state="canceled")
    return no_content()


@handler("recordings.pause")
@handler("recordings.unpause")
@handler("recordings.mute")
@handler("recordings.unmute")
def acknowledge_recording(call: Call) -> Reply:
    _live(call)
    return no_content()


@handler("recordings.listStored")
def list_stored(call: Call) -> Reply:
    return ok([r.json() for r in call.pbx.stored.values()])


@handler("recordings.getStored")
def get_stored(call: Call) -> Reply:
    return ok(_stored(call).json())


@handler("recordings.deleteStored")
def delete_stored(call: Call) -> Reply:
    call.pbx.stored.pop(_stored(call).name)
    return no_content()


@handler("recordings.getStoredFile")
def stored_file(call: Call) -> Reply:
    recording = _stored(call)
    kind = "audio/wav" if recording.format == "wav" else "application/octet-stream"
    return Reply(200, content_type=kind, raw=media.wav_bytes(recording.seconds))


@handler("recordings.copyStored")
def copy_stored(call: Call) -> Reply:
    source = _stored(call)
    target = call.text("destinationRecordingName")
    if not target:
        raise AriError(400, "Destination recording name is required")
    if target in call.pbx.stored:
        raise AriError(409, "A recording with the same name already exists on the system")
    call.pbx.stored[target] = StoredRecording(target, source.format, source.seconds)
    return ok(call.pbx.stored[target].json())


# -- events ------------------------------------------------------------------------------
@handler("events.userEvent")
def user_event(call: Call) -> Reply:
    name = call.text("application") or ""
    call.pbx.app(name)
    body: list[tuple[str, Any]] = [("eventname", call.path["eventName"])]
    for source in call.items("source"):
        kind, _, ident = source.partition(":")
        if kind == "channel" and ident in call.pbx.channels:
            body.append(("channel", call.pbx.channels[ident].json()))
        elif kind == "bridge" and ident in call.pbx.bridges:
            body.append(("bridge", call.pbx.bridges[ident].json()))
        else:
            raise AriError(422, "Event source not found")
    body.append(("userevent", call.variables()))
    call.pbx.emit(ari_event("ChannelUserevent", body, [], only_app=name))
    return no_content()
