"""Running a channel through the dialplan, one priority at a time.

Supported applications: NoOp, Answer, Playback/Background (answer, then last
`media_seconds` per file), Wait, Set, Goto, GotoIf, Gosub/Return, UserEvent, Hangup and
Stasis. Stasis fails with `STASISSTATUS=FAILED` and the dialplan goes on when the app has
no WebSocket (flow i). Any other application is a no-op. Running off the end of an
extension hangs up (cause 16), and so does an application failing as it would in Asterisk
(a Goto to an unknown label, Return without Gosub).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from frontdesk.emulator import bridging
from frontdesk.emulator.dialplan import separate_args, split_target, substitute
from frontdesk.emulator.events import ari_event, channel_sources, escape_c
from frontdesk.emulator.model import Channel, Dialplan, GosubFrame

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

_STOP = -1.0


def run(pbx: Pbx, ch: Channel) -> None:
    """Execute from the channel's current dialplan position until something takes time."""
    while not ch.hangup_requested:
        steps = pbx.dialplan.steps(ch.dialplan.context, ch.dialplan.exten)
        if steps is None or not 1 <= ch.dialplan.priority <= len(steps):
            pbx.hangup(ch, cause=16)
            return
        app, data = steps[ch.dialplan.priority - 1]
        data = substitute(data, _lookup(pbx, ch))
        pbx.set_dialplan_app(ch, app, data)
        delay = _execute(pbx, ch, app, data)
        if delay == _STOP:
            return
        if delay > 0:
            pbx.later(ch, delay, _next, pbx, ch)
            return
        ch.dialplan.priority += 1


def _next(pbx: Pbx, ch: Channel) -> None:
    ch.dialplan.priority += 1
    run(pbx, ch)


def _lookup(pbx: Pbx, ch: Channel) -> dict[str, str]:
    """Builtins, then channel variables, then globals (`pbx_retrieve_variable`)."""
    return {
        **pbx.globals,
        **ch.variables,
        "CALLERID(all)": ch.caller.callerid_all(),
        "CALLERID(num)": ch.caller.number,
        "CALLERID(name)": ch.caller.name,
        "EXTEN": ch.dialplan.exten,
        "CONTEXT": ch.dialplan.context,
        "CHANNEL": ch.name,
        "UNIQUEID": ch.id,
        "PRIORITY": str(ch.dialplan.priority),
    }


def _execute(pbx: Pbx, ch: Channel, app: str, data: str) -> float:
    """Run one application; returns seconds until the next priority, or `_STOP`."""
    name = app.lower()
    if name == "answer":
        pbx.answer(ch)
    elif name in ("playback", "background"):
        pbx.answer(ch)
        files = [f"sound:{f}" for f in data.split(",")[0].split("&") if f]
        ch.media += files
        return sum(pbx.media_seconds(f) for f in files)
    elif name == "wait":
        return pbx.scaled(float(data or 0))
    elif name == "set" and "=" in data:
        var, value = data.split("=", 1)
        pbx.set_var(ch, var.strip(), value)
    elif name == "goto":
        return _goto(pbx, ch, data)
    elif name == "gotoif":
        return _goto_if(pbx, ch, data)
    elif name == "gosub":
        return _gosub(pbx, ch, data)
    elif name == "return":
        return _return(pbx, ch, data)
    elif name == "userevent":
        return _user_event(pbx, ch, data)
    elif name == "hangup":
        pbx.hangup(ch, cause=int(data) if data.isdigit() else 16)
        return _STOP
    elif name == "stasis":
        return _stasis(pbx, ch, data)
    return 0.0


def _fail(pbx: Pbx, ch: Channel) -> float:
    """The application returned -1: the PBX stops and the channel is hung up."""
    pbx.hangup(ch, cause=16)
    return _STOP


def _goto(pbx: Pbx, ch: Channel, target: str) -> float:
    context, exten, label = split_target(target, ch.dialplan.context, ch.dialplan.exten)
    priority = pbx.dialplan.priority(context, exten, label or "1")
    if priority is None:
        return _fail(pbx, ch)
    # the run loop steps past the priority just run, as Asterisk's autoloop does
    ch.dialplan.context, ch.dialplan.exten, ch.dialplan.priority = context, exten, priority - 1
    return 0.0


def _goto_if(pbx: Pbx, ch: Channel, data: str) -> float:
    """`GotoIf(condition?[true][:false])`; an empty branch goes on to the next priority."""
    condition, _, branches = data.partition("?")
    if_true, _, if_false = branches.partition(":")
    branch = if_true if _is_true(condition) else if_false
    return _goto(pbx, ch, branch) if branch else 0.0


def _is_true(condition: str) -> bool:
    """`pbx_checkcondition`: empty is false, a leading integer is its value, text is true."""
    number = re.match(r"\s*[+-]?\d+", condition)
    return int(number.group()) != 0 if number else bool(condition)


# -- Gosub/Return (app_stack.c): the frames live on the channel (`Channel.gosub_stack`) --
def _gosub(pbx: Pbx, ch: Channel, data: str) -> float:
    """`Gosub([[context,]exten,]priority[(arg1,...)])`, the arguments as ARGn and ARGC."""
    target, _, rest = data.partition("(")
    args = separate_args(rest.rpartition(")")[0] if ")" in rest else rest, remove=False)
    here = ch.dialplan
    context, exten, label = split_target(target, here.context, here.exten)
    priority = pbx.dialplan.priority(context, exten, label)
    if not data or priority is None or not pbx.dialplan.exists(context, exten, priority):
        return _fail(pbx, ch)
    stack = ch.gosub_stack
    # an outer frame's arguments beyond this call's are masked as empty
    count = max(len(args), stack[-1].arguments if stack else 0)
    frame = GosubFrame(here.context, here.exten, here.priority + 1, count)
    here.context, here.exten, here.priority = context, exten, priority - 1
    values = [args[n] if n < len(args) else "" for n in range(count)]
    _set_arguments(pbx, ch, frame, [*values, str(len(args))])
    stack.append(frame)
    return 0.0


def _set_arguments(pbx: Pbx, ch: Channel, frame: GosubFrame, values: list[str]) -> None:
    """ARG1..ARGn then ARGC, each hiding any value of that name and reported as
    `LOCAL(name)` (`frame_set_var`), already at the subroutine's location."""
    names = [*(f"ARG{n}" for n in range(1, len(values))), "ARGC"]
    for name, value in zip(names, values, strict=True):
        frame.hidden[name] = ch.variables.get(name)
        ch.variables[name] = value
        _varset_event(pbx, ch, f"LOCAL({name})", value)


def _return(pbx: Pbx, ch: Channel, data: str) -> float:
    """`Return([value])`: back after the Gosub, its ARGn gone, `GOSUB_RETVAL` set."""
    if not ch.gosub_stack:
        return _fail(pbx, ch)  # "Return without Gosub"
    frame = ch.gosub_stack.pop()
    ch.dialplan.context, ch.dialplan.exten = frame.context, frame.exten
    ch.dialplan.priority = frame.priority - 1
    for name, hidden in reversed(frame.hidden.items()):
        # deleting a non-empty variable is reported with an empty value; the hidden one
        # comes back silently (`pbx_builtin_setvar_helper(chan, name, NULL)`)
        if ch.variables.pop(name, ""):
            _varset_event(pbx, ch, name, "")
        if hidden is not None:
            ch.variables[name] = hidden
    pbx.set_var(ch, "GOSUB_RETVAL", data)
    return 0.0


def _varset_event(pbx: Pbx, ch: Channel, name: str, value: str) -> None:
    """VarSet/ChannelVarset for a variable the Pbx does not store under that name."""
    pbx.ami_channel("VarSet", ch, [("Variable", name), ("Value", escape_c(value))], "dialplan")
    pbx.emit_channel(ch, "ChannelVarset", head=[("variable", name), ("value", value)])


def _user_event(pbx: Pbx, ch: Channel, data: str) -> float:
    """`UserEvent(name[,key: value...])`: AMI `UserEvent` (the channel's fields, then
    `UserEvent: name`, then the pairs; `multi_user_event_to_ami`) and ARI
    ChannelUserevent. An item without `:` is skipped; keys are kept as written."""
    if not data:
        return _fail(pbx, ch)
    name, *items = separate_args(data, remove=True)
    blob = {"eventname": name}
    for item in items:
        key, colon, value = item.partition(":")
        if colon:
            blob[key] = value.strip()
    body = [(k, v) for k, v in blob.items() if k != "eventname"]
    pbx.ami_channel("UserEvent", ch, [("UserEvent", blob["eventname"]), *body], "user")
    fields = [("eventname", blob["eventname"]), ("userevent", blob), ("channel", ch.json())]
    pbx.emit(ari_event("ChannelUserevent", fields, channel_sources(ch)))
    return 0.0


def _stasis(pbx: Pbx, ch: Channel, data: str) -> float:
    app, *args = data.split(",")
    pbx.set_var(ch, "STASISSTATUS", "")
    if not pbx.sink.app_active(app):
        pbx.stasis_failed(ch)
        return 0.0
    pbx.enter_stasis(ch, app, args)
    return _STOP


def continue_at(pbx: Pbx, ch: Channel, context: str, exten: str, priority: int) -> None:
    """Leave Stasis (`POST /channels/{id}/continue`) and resume the dialplan there; a
    bridged channel departs its bridge first (`app_control_continue`)."""
    if ch.bridge_id is not None:
        bridging.leave(pbx, ch, explicit=False)
    pbx.leave_stasis(ch)
    pbx.set_var(ch, "STASISSTATUS", "SUCCESS")
    ch.dialplan.context, ch.dialplan.exten, ch.dialplan.priority = context, exten, priority
    ch.continued_to = Dialplan(context, exten, priority)
    pbx.later(ch, 0.0, run, pbx, ch)


def run_application(pbx: Pbx, ch: Channel, app: str, data: str) -> None:
    """AMI Originate with Application/Data: run that one application, then hang up."""
    pbx.set_dialplan_app(ch, app, data)
    delay = _execute(pbx, ch, app, data)
    if delay != _STOP:
        pbx.later(ch, delay, lambda: pbx.hangup(ch, cause=16))
