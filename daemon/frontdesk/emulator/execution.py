"""Running a channel through the dialplan, one priority at a time.

Supported applications: NoOp, Answer, Playback/Background (answer, then last
`media_seconds` per file), Wait, Set, Goto, Hangup and Stasis. Stasis fails with
`STASISSTATUS=FAILED` and the dialplan goes on when the app has no WebSocket (flow i).
Any other application is a no-op. Running off the end of an extension hangs up (cause 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontdesk.emulator import bridging
from frontdesk.emulator.dialplan import parse_goto, substitute
from frontdesk.emulator.model import Channel, Dialplan

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
        data = substitute(data, _lookup(ch))
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


def _lookup(ch: Channel) -> dict[str, str]:
    return {
        **ch.variables,
        "CALLERID(all)": ch.caller.callerid_all(),
        "CALLERID(num)": ch.caller.number,
        "CALLERID(name)": ch.caller.name,
        "EXTEN": ch.dialplan.exten,
        "CONTEXT": ch.dialplan.context,
        "CHANNEL": ch.name,
        "UNIQUEID": ch.id,
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
        context, exten, priority = parse_goto(data, ch.dialplan.context, ch.dialplan.exten)
        ch.dialplan.context, ch.dialplan.exten = context, exten
        ch.dialplan.priority = priority - 1
    elif name == "hangup":
        pbx.hangup(ch, cause=int(data) if data.isdigit() else 16)
        return _STOP
    elif name == "stasis":
        return _stasis(pbx, ch, data)
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
