"""Outbound channels: `POST /channels` (originate), `/channels/create` and `/dial`.

An originated PJSIP channel is created `Down` in its endpoint's context (`staff`/`s`/1,
`AppDial2`), rings (`Dial` "", `ChannelStateChange` Ringing, `Dial` RINGING) and enters
Stasis only once the phone answers (flow b2). No answer: only `ChannelDestroyed` cause 19
at the timeout (flow e); 486: `Dial` BUSY, 603: `Dial` NOANSWER (flows e2/e3). An unknown,
unregistered or non-PJSIP endpoint fails at once with `500 {"error":"Allocation failed"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frontdesk.emulator import execution
from frontdesk.emulator.clock import Ids, now
from frontdesk.emulator.errors import AriError, allocation_failed
from frontdesk.emulator.model import Channel, Dialplan, Party

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

MAX_UNIQUEID = 149  # AST_MAX_PUBLIC_UNIQUEID
REPLIES = {486: (17, "BUSY"), 603: (21, "NOANSWER")}


@dataclass
class OriginateRequest:
    endpoint: str | None
    app: str | None = None
    app_args: str | None = None
    caller_id: str | None = None
    timeout: int = 0
    channel_id: str | None = None
    other_channel_id: str | None = None
    context: str | None = None
    extension: str | None = None
    priority: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    originator: str | None = None
    application: tuple[str, str] | None = None  # AMI Originate Application/Data


@dataclass(frozen=True)
class AnswerPlan:
    """What an originated channel does once answered: enter an app, run dialplan or an app."""

    app: str | None = None
    dest: Dialplan | None = None
    application: tuple[str, str] | None = None


@dataclass(frozen=True)
class Target:
    endpoint: str  # PJSIP/2001, PJSIP/trunk, Local/wait@lab-local
    dialstring: str
    context: str
    exten: str = "s"


def parse_callerid(text: str) -> Party:
    """`ast_callerid_parse`: `"Name" <number>`, `Name <number>`, `<number>` or a bare value."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        start = text.rindex("<")
        name = text[:start].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        return Party(name, _shrink(text[start + 1 : -1].strip()))
    if text and all(c.isdigit() or c in "+()-. " for c in text):
        return Party("", _shrink(text))
    return Party(text.strip('"'), "")


def _shrink(number: str) -> str:
    """`ast_shrink_phone_number` for a shrinkable number: drop `()-. ` separators."""
    if all(c.isdigit() or c in "+()-. " for c in number):
        return "".join(c for c in number if c not in "()-. ")
    return number


def resolve(pbx: Pbx, endpoint: str) -> Target:
    tech, _, resource = endpoint.partition("/")
    if not tech or not resource:
        raise AriError(400, "Invalid endpoint specified")
    if tech.upper() == "PJSIP":
        _, at, name = resource.partition("@")
        phone = pbx.phones.get(name if at else resource)
        if phone is None or not phone.reachable:
            raise allocation_failed()
        return Target(phone.name, resource, phone.context)
    if tech.lower() == "local":
        exten, _, context = resource.split("/", 1)[0].partition("@")
        context = context or "default"
        if not pbx.dialplan.exists(context, exten):
            raise allocation_failed()
        return Target(f"Local/{exten}@{context}", resource, context, exten)
    raise allocation_failed()


def _check_length(*ids: str | None) -> None:
    if any(ident and len(ident) > MAX_UNIQUEID for ident in ids):
        raise AriError(400, f"Uniqueid length exceeds maximum of {MAX_UNIQUEID}")


def _check_unused(pbx: Pbx, *ids: str | None) -> None:
    if any(ident and ident in pbx.channels for ident in ids):
        raise AriError(409, "Channel with given unique ID already exists")


def _new_channel(pbx: Pbx, target: Target, channel_id: str | None, created: bool) -> Channel:
    if target.endpoint.startswith("Local/"):
        name = f"{target.endpoint}-{pbx.ids.local_suffix()};1"
        protocol_id, caller = "", Party()
    else:
        phone = pbx.phones[target.endpoint.removeprefix("PJSIP/")]
        name = f"{target.endpoint}-{pbx.ids.pjsip_suffix()}"
        protocol_id, caller = (
            Ids.outbound_call_id(),
            Party(phone.callerid.name, phone.callerid.number),
        )
    _check_unused(pbx, channel_id)
    unique = channel_id or pbx.ids.unique_id()
    if target.endpoint.startswith("Local/"):
        pbx.ids.skip_unique(1)  # the ;2 half
    dialplan = Dialplan(target.context, target.exten, 1)
    ch = Channel(unique, name, target.endpoint, "Down", protocol_id, caller, dialplan, now())
    ch.originated, ch.dialstring, ch.undialed = True, target.dialstring, created
    return ch


def originate(pbx: Pbx, req: OriginateRequest) -> Channel:
    _check_length(req.channel_id, req.other_channel_id)
    if not req.endpoint:
        raise AriError(400, "Endpoint must be specified")
    target = resolve(pbx, req.endpoint)
    if not req.app and not req.extension:
        raise AriError(400, "Application or extension must be specified")
    if req.originator and req.originator not in pbx.channels:
        raise AriError(400, "Provided originator channel was not found")
    _check_unused(pbx, req.other_channel_id)
    ch = _new_channel(pbx, target, req.channel_id, created=False)
    pbx.add_channel(ch)
    pbx.set_dialplan_app(ch, "AppDial2", "(Outgoing Line)")
    if req.caller_id:
        party = parse_callerid(req.caller_id)
        pbx.set_caller(ch, party)
        pbx.set_connected(ch, party)
    for name, value in req.variables.items():
        pbx.set_var(ch, name, value)
    if req.app:
        ch.owner_app, ch.stasis_args = req.app, _args(req.app_args)
        _subscribe(pbx, req.app, ch)
        plan = AnswerPlan(app=req.app)
    elif req.application:
        plan = AnswerPlan(application=req.application)
    else:
        plan = AnswerPlan(dest=_destination(req))
    pbx.later(ch, 0.0, _ring, pbx, ch, req.timeout, plan)
    return ch


def dial_phone(
    pbx: Pbx, endpoint: str, timeout: int, connected: Party, on_result: Callable[[bool], None]
) -> Channel:
    """`Dial(<endpoint>,<timeout>)` from the dialplan (a blind transfer's `Local;2`): the
    phone's channel is made and rings at once with its behaviour (answer, 486/603, never
    until `timeout` s; -1: no timeout); `on_result(answered)` as for an AMI Originate. An
    unknown or unregistered phone raises `AriError` (Dial's CHANUNAVAIL)."""
    target = resolve(pbx, endpoint)
    ch = _new_channel(pbx, target, None, created=False)
    pbx.add_channel(ch)
    pbx.set_dialplan_app(ch, "AppDial2", "(Outgoing Line)")
    pbx.set_connected(ch, connected)
    ch.on_result = on_result
    _ring(pbx, ch, timeout, AnswerPlan())
    return ch


def _destination(req: OriginateRequest) -> Dialplan:
    return Dialplan(req.context or "default", req.extension or "s", req.priority or 1)


def _args(app_args: str | None) -> list[str]:
    return app_args.split(",") if app_args else []


def _subscribe(pbx: Pbx, app: str, ch: Channel) -> None:
    application = pbx.register_app(app)
    if ch.id not in application.channel_ids:
        application.channel_ids.append(ch.id)


def create(pbx: Pbx, req: OriginateRequest) -> Channel:
    """`POST /channels/create`: the channel enters Stasis at once, undialled (flow c)."""
    _check_length(req.channel_id, req.other_channel_id)
    if not req.endpoint:
        raise AriError(400, "Endpoint must be specified")
    target = resolve(pbx, req.endpoint)
    if not req.app:
        raise AriError(400, "Application must be specified")
    ch = _new_channel(pbx, target, req.channel_id, created=True)
    ch.owner_app = req.app
    pbx.add_channel(ch)
    for name, value in req.variables.items():
        pbx.set_var(ch, name, value)
    _subscribe(pbx, req.app, ch)
    app_data = ",".join([req.app, *_args(req.app_args)])
    pbx.later(ch, 0.0, _enter_created, pbx, ch, req.app, app_data)
    return ch


def _enter_created(pbx: Pbx, ch: Channel, app: str, app_data: str) -> None:
    pbx.set_dialplan_app(ch, "Stasis", app_data)
    pbx.set_var(ch, "STASISSTATUS", "")
    pbx.enter_stasis(ch, app, app_data.split(",")[1:])


def dial(pbx: Pbx, ch: Channel, timeout: int) -> None:
    """`POST /channels/{id}/dial` for a channel made by `/channels/create`."""
    if not ch.undialed:
        raise AriError(409, "Channel is already dialed")
    ch.undialed = False
    _ring(pbx, ch, timeout, AnswerPlan())


def _ring(pbx: Pbx, ch: Channel, timeout: int, plan: AnswerPlan) -> None:
    if ch.endpoint.startswith("Local/"):
        _answered(pbx, ch, plan)
        return
    phone = pbx.phones[ch.endpoint.removeprefix("PJSIP/")]
    pbx.dial_event(ch, "")
    pbx.set_state(ch, "Ringing")
    pbx.dial_event(ch, "RINGING")
    if phone.reply in REPLIES:
        pbx.later(ch, phone.answer_after or 1.0, _rejected, pbx, ch, phone.reply)
    elif phone.answer_after is not None:
        pbx.later(ch, phone.answer_after, _answered, pbx, ch, plan)
    if timeout != -1:
        seconds = pbx.scaled(timeout) if timeout > 0 else pbx.scaled(30)
        pbx.later(ch, seconds, _no_answer, pbx, ch)


def _answered(pbx: Pbx, ch: Channel, plan: AnswerPlan) -> None:
    ch.cancel_timers()
    pbx.set_state(ch, "Up")
    if not ch.endpoint.startswith("Local/"):
        pbx.dial_event(ch, "ANSWER")
    if ch.on_result is not None:
        ch.on_result(True)
    app = plan.app
    if app is not None:
        ch.dialplan.app_name = "Stasis"
        ch.dialplan.app_data = ",".join([app, *ch.stasis_args])
        ch.last_app, ch.last_data = "Stasis", ch.dialplan.app_data
        pbx.set_var(ch, "STASISSTATUS", "")
        if not pbx.sink.app_active(app):
            pbx.stasis_failed(ch)
            pbx.hangup(ch, cause=16)
            return
        pbx.enter_stasis(ch, app, list(ch.stasis_args))
    elif plan.dest is not None:
        ch.dialplan = plan.dest
        execution.run(pbx, ch)
    elif plan.application is not None:
        execution.run_application(pbx, ch, *plan.application)


def _no_answer(pbx: Pbx, ch: Channel) -> None:
    if ch.on_result is not None:
        ch.on_result(False)
    pbx.hangup(ch, cause=19, tech_cause=480)


def _rejected(pbx: Pbx, ch: Channel, code: int) -> None:
    if ch.on_result is not None:
        ch.on_result(False)
    cause, status = REPLIES[code]
    request = [("cause", cause), ("tech_cause", code)]
    pbx.hangup(ch, cause=cause, request=request, tech_cause=code, dial_status=status)
