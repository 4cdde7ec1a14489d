"""`/channels` handlers: the checks run in the order of Asterisk 22's resource_channels.c."""

from __future__ import annotations

import uuid

from frontdesk.emulator import execution, media, originate
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.model import Channel, Party, Playback
from frontdesk.emulator.rest import Call, Reply, created, handler, no_content, ok

HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


@handler("channels.list")
def list_channels(call: Call) -> Reply:
    return ok([ch.json() for ch in call.pbx.channels.values()])


def _originate_request(call: Call) -> originate.OriginateRequest:
    return originate.OriginateRequest(
        endpoint=call.text("endpoint"),
        app=call.text("app"),
        app_args=call.text("appArgs"),
        caller_id=call.text("callerId"),
        timeout=call.number("timeout"),
        channel_id=call.path.get("channelId") or call.text("channelId"),
        other_channel_id=call.text("otherChannelId"),
        context=call.text("context"),
        extension=call.text("extension"),
        priority=call.number("priority"),
        variables=call.variables(),
        originator=call.text("originator"),
    )


@handler("channels.originate")
@handler("channels.originateWithId")
def originate_channel(call: Call) -> Reply:
    return ok(originate.originate(call.pbx, _originate_request(call)).json())


@handler("channels.create")
def create_channel(call: Call) -> Reply:
    return ok(originate.create(call.pbx, _originate_request(call)).json())


@handler("channels.get")
def get_channel(call: Call) -> Reply:
    return ok(call.pbx.channel(call.path["channelId"]).json())


@handler("channels.hangup")
def hangup(call: Call) -> Reply:
    ch = call.pbx.channel(call.path["channelId"])
    reason, code = call.text("reason"), call.text("reason_code")
    if reason and code:
        raise AriError(400, "The reason and reason_code can't both be specified")
    if reason and reason not in HANGUP_REASONS:
        raise AriError(400, "Invalid reason for hangup provided")
    cause = int(code) if code and code.isdigit() else HANGUP_REASONS.get(reason or "normal", 16)
    ringing = ch.originated and ch.answered_at is None and not ch.undialed
    status = "CANCEL" if ringing and not ch.endpoint.startswith("Local/") else None
    request = [("cause", 32), ("soft", True)]
    call.pbx.hangup(ch, cause=cause, request=request, soft=True, dial_status=status)
    return no_content()


@handler("channels.continueInDialplan")
def continue_in_dialplan(call: Call) -> Reply:
    ch = call.pbx.control(call.path["channelId"])
    context, extension = call.text("context"), call.text("extension")
    label, priority = call.text("label"), call.number("priority")
    exten = extension or (ch.dialplan.exten if not context else "s")
    target_context = context or ch.dialplan.context
    if label:
        if not label.isdigit():
            raise AriError(404, "Requested label can not be found")
        priority = int(label)
        if priority == 0:
            raise AriError(400, "Requested priority is illegal")
    elif not priority:
        priority = ch.dialplan.priority + 1 if not context and not extension else 1
    execution.continue_at(call.pbx, ch, target_context, exten, priority)
    return no_content()


@handler("channels.redirect")
def redirect(call: Call) -> Reply:
    ch = call.pbx.control(call.path["channelId"])
    endpoint = call.text("endpoint")
    if not endpoint:
        raise AriError(400, "Required parameter 'endpoint' not provided.")
    tech, _, resource = endpoint.partition("/")
    if not resource:
        raise AriError(400, f"Endpoint parameter '{endpoint}' does not contain tech/resource")
    if tech.lower() != ch.tech.lower():
        raise AriError(
            422, f"Endpoint technology '{tech}' does not match channel technology '{ch.tech}'"
        )
    ch.redirected_to = endpoint
    call.pbx.hangup(ch, cause=16, request=[])
    return no_content()


def _in_state(call: Call) -> Channel:
    """The checks of answer/ring/progress/dtmf: in Stasis, then dialled."""
    ch = call.pbx.control(call.path["channelId"])
    if ch.undialed:
        raise AriError(412, "Channel in invalid state")
    return ch


@handler("channels.answer")
def answer(call: Call) -> Reply:
    call.pbx.answer(_in_state(call))
    return no_content()


@handler("channels.ring")
def ring(call: Call) -> Reply:
    ch = _in_state(call)
    if ch.state == "Ring":
        call.pbx.set_state(ch, "Ringing")
    return no_content()


@handler("channels.ringStop")
@handler("channels.progress")
@handler("channels.hold")
@handler("channels.unhold")
@handler("channels.startSilence")
@handler("channels.stopSilence")
def acknowledge(call: Call) -> Reply:
    _in_state(call)
    return no_content()


@handler("channels.mute")
@handler("channels.unmute")
def mute(call: Call) -> Reply:
    call.pbx.control(call.path["channelId"])
    if (call.text("direction") or "both") not in ("both", "in", "out"):
        raise AriError(400, "Invalid direction specified")
    return no_content()


@handler("channels.startMoh")
def start_moh(call: Call) -> Reply:
    call.pbx.control(call.path["channelId"]).moh_class = call.text("mohClass") or "default"
    return no_content()


@handler("channels.stopMoh")
def stop_moh(call: Call) -> Reply:
    call.pbx.control(call.path["channelId"]).moh_class = None
    return no_content()


@handler("channels.sendDTMF")
def send_dtmf(call: Call) -> Reply:
    _in_state(call)
    if not call.text("dtmf"):
        raise AriError(400, "DTMF is required")
    return no_content()


@handler("channels.play")
@handler("channels.playWithId")
def play(call: Call) -> Reply:
    ch = call.pbx.control(call.path["channelId"])
    if ch.undialed:
        raise AriError(409, "Channel not in Stasis application")
    if call.number("skipms") < 0:
        raise AriError(400, "skipms cannot be negative")
    if call.number("offsetms") < 0:
        raise AriError(400, "offsetms cannot be negative")
    playback_id = call.path.get("playbackId") or call.text("playbackId")
    uris = call.items("media")
    media.check_play_ids(call.pbx, playback_id, uris)
    language = call.text("lang") or ch.language
    playback = Playback(playback_id or str(uuid.uuid4()), uris, f"channel:{ch.id}", language)
    body = playback.json()
    media.queue(call.pbx, playback)
    return Reply(201, body, headers={"Location": f"/playbacks/{playback.id}"})


@handler("channels.record")
def record(call: Call) -> Reply:
    max_duration, max_silence = call.number("maxDurationSeconds"), call.number("maxSilenceSeconds")
    if max_duration < 0:
        raise AriError(400, "max_duration_seconds cannot be negative")
    if max_silence < 0:
        raise AriError(400, "max_silence_seconds cannot be negative")
    ch = call.pbx.control(call.path["channelId"])
    recording = media.record(
        call.pbx,
        ch,
        call.text("name") or "",
        call.text("format") or "",
        max_duration=max_duration,
        if_exists=call.text("ifExists") or "fail",
        terminate_on=call.text("terminateOn") or "none",
    )
    body = recording.json()
    media.start_recording(call.pbx, recording)
    return created(body)


@handler("channels.getChannelVar")
def get_variable(call: Call) -> Reply:
    name = call.text("variable")
    if not name:
        raise AriError(400, "Variable name is required")
    ch = call.pbx.channels.get(call.path["channelId"])
    if ch is None:
        raise AriError(404, "Provided channel was not found")
    value = read_variable(call, ch, name)
    if value is None:
        raise AriError(404, "Provided variable was not found")
    return ok({"value": value})


def read_variable(call: Call, ch: Channel, name: str) -> str | None:
    functions = {
        "CALLERID(name)": ch.caller.name,
        "CALLERID(num)": ch.caller.number,
        "CALLERID(number)": ch.caller.number,
        "CALLERID(all)": ch.caller.callerid_all(),
        "CHANNEL(name)": ch.name,
        "CHANNEL(uniqueid)": ch.id,
        "CHANNEL(language)": ch.language,
        "CHANNEL(state)": ch.state,
        "CONNECTEDLINE(name)": ch.connected.name,
        "CONNECTEDLINE(num)": ch.connected.number,
    }
    if name.endswith(")"):
        if name.startswith("PJSIP_HEADER("):
            return _pjsip_header(ch, name)
        if name not in functions:
            raise AriError(500, "Unable to read provided function")
        return functions[name]
    builtins = {
        "EXTEN": ch.dialplan.exten,
        "CONTEXT": ch.dialplan.context,
        "PRIORITY": str(ch.dialplan.priority),
        "UNIQUEID": ch.id,
        "CHANNEL": ch.name,
        "LANGUAGE": ch.language,
    }
    if name in ch.variables:
        return ch.variables[name]
    return builtins.get(name, call.pbx.globals.get(name))


def _pjsip_header(ch: Channel, function: str) -> str:
    """`PJSIP_HEADER(read,<name>[,<n>])` of an inbound PJSIP channel's INVITE.

    Asterisk matches the name case-insensitively and fails the read (ARI 500) when the
    header is absent or the channel is not PJSIP (res_pjsip_header_funcs.c)."""
    parts = [a.strip() for a in function[len("PJSIP_HEADER(") : -1].split(",")]
    action, name, *number = parts if len(parts) >= 2 else ["", ""]
    readable = ch.tech == "PJSIP" and action.lower() == "read" and number in ([], ["1"])
    found = {k.lower(): v for k, v in ch.sip_headers.items()}.get(name.lower())
    if not readable or found is None:
        raise AriError(500, "Unable to read provided function")
    return found


@handler("channels.setChannelVar")
def set_variable(call: Call) -> Reply:
    name = call.text("variable")
    if not name:
        raise AriError(400, "Variable name is required")
    ch = call.pbx.control(call.path["channelId"])
    value = call.raw("value")
    if name.startswith("CALLERID(") and value is not None:
        _set_callerid(call, ch, name, value)
    elif value is None:
        ch.variables.pop(name, None)
    else:
        call.pbx.set_var(ch, name, value)
    return no_content()


def _set_callerid(call: Call, ch: Channel, name: str, value: str) -> None:
    field = name[len("CALLERID(") : -1].lower()
    if field == "name":
        party = Party(value, ch.caller.number)
    elif field in ("num", "number"):
        party = Party(ch.caller.name, value)
    elif field == "all":
        party = originate.parse_callerid(value)
    else:
        raise AriError(400, "Failed to execute function")
    call.pbx.set_caller(ch, party)


@handler("channels.dial")
def dial(call: Call) -> Reply:
    ch = call.pbx.control(call.path["channelId"])
    originate.dial(call.pbx, ch, call.number("timeout"))
    return no_content()
