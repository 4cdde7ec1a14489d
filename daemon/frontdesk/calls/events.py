"""What happens to a call, as facts: the one vocabulary of the event hub.

The call runtime, the ACD runtime and the destinations publish these on the `EventHub`
(calls/hub.py); the recorder, the live board, the metrics and the screen pops listen and
match them by type. Each fact is frozen data. `kind` is its stored name: the
`call_events.kind` column, the board's alert kinds and the webhook keep these strings,
so a rename here is a data migration.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

from frontdesk.phone import mask_number
from frontdesk.plan.model import Staff
from frontdesk.routing.destination import Decision
from frontdesk.routing.ivr import CallFacts


@dataclass(frozen=True)
class CallFact:
    """Something that happened to one call (`call`: its channel id, the linkedid)."""

    kind: ClassVar[str]
    call: str

    def data(self) -> dict[str, Any]:
        """The fact's fields besides `call`, as JSON values (what `call_events` keeps)."""
        return {
            f.name: list(v) if isinstance(v, tuple) else v
            for f in dataclasses.fields(self)
            if f.name != "call" and isinstance(v := getattr(self, f.name), _JSON)
        }


_JSON = (str, int, float, bool, tuple, list, dict, type(None))


# -- a call's start, in frontdesk's own menu ---------------------------------------------------
@dataclass(frozen=True)
class CallStarted(CallFact):
    kind = "started"
    facts: CallFacts

    def data(self) -> dict[str, Any]:
        return {"known_patient": self.facts.patient is not None}


@dataclass(frozen=True)
class CallRouted(CallFact):
    kind = "routed"
    facts: CallFacts
    decision: Decision
    language: str

    def data(self) -> dict[str, Any]:
        return {"destination": self.decision.destination.as_json()}


@dataclass(frozen=True)
class GoliveCaseSeen(CallFact):
    """Go-live mode: the test case a declared test caller says it is (validated)."""

    kind = "golive_case"
    case: str


# -- the queue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueJoined(CallFact):
    kind = "joined"
    queue: str


@dataclass(frozen=True)
class AgentRinging(CallFact):
    """An agent's phone is offered the call (`number` in full: the screen pop needs it)."""

    kind = "ringing"
    agent: str
    number: str | None
    language: str
    category: str


@dataclass(frozen=True)
class CallAnswered(CallFact):
    kind = "answered"
    agent: str | None


@dataclass(frozen=True)
class ConversationEnded(CallFact):
    kind = "talk_ended"


@dataclass(frozen=True)
class CallAbandoned(CallFact):
    """The caller hung up before anyone took the call; `where`: `menu`, `voicemail`, or
    None for a queue."""

    kind = "abandoned"
    where: str | None = None


@dataclass(frozen=True)
class EscalationRaised(CallFact):
    kind = "escalation"
    queue: str | None
    waited_s: int | None
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class SentAfterHours(CallFact):
    """The queue closed while the caller waited: they follow its after-hours route."""

    kind = "after_hours"


# -- callbacks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackOffered(CallFact):
    kind = "callback_offered"


@dataclass(frozen=True)
class CallbackChosen(CallFact):
    """The caller pressed 1: they hang up and keep their place."""

    kind = "callback_accepted"


@dataclass(frozen=True)
class CallbackReinstated(CallFact):
    """A callback pending when frontdesk last stopped, back at its place."""

    kind = "callback_restored"
    queue: str


@dataclass(frozen=True)
class CallbackTaskRaised(CallFact):
    """Every callback attempt failed (or the queue closed): a person must call back."""

    kind = "callback_task"
    category: str | None
    queue: str | None = None  # the queue the caller kept their place in (None: older rows)


@dataclass(frozen=True)
class ReturnCallStarted(CallFact):
    """An agent returns the call by hand ("call back now" on its task or voicemail)."""

    kind = "return_call"
    agent: str


@dataclass(frozen=True)
class ReturnCallEnded(CallFact):
    kind = "return_call_ended"
    agent: str
    answered: bool  # the patient picked up


# -- voicemail and transfers ----------------------------------------------------------------------
@dataclass(frozen=True)
class VoicemailLeft(CallFact):
    kind = "voicemail"
    box: str | None
    recording: str | None = None
    category: str | None = None
    callback_due: str | None = None  # ISO time the practice promised to call back by
    hung_up: bool = False  # the caller hung up instead of pressing `#`


@dataclass(frozen=True)
class ExternalTransferConnected(CallFact):
    kind = "transfer_connected"


@dataclass(frozen=True)
class PhoneTransferred(CallFact):
    """The agent moved the call with their phone's transfer button."""

    kind = "transferred"
    agent: str | None
    target: str | None  # None for an attended transfer until `PhoneTransferTarget`
    how: str  # blind | attended


@dataclass(frozen=True)
class StaffTransferred(CallFact):
    """Staff moved the call through frontdesk (agent page, `*8`, API): `to` a queue
    (the caller keeps their place by arrival), an agent (rung, then bridged) or an
    external number of the plan. `misrouted`: a queue or category other than the one
    the call was routed to (docs/reports.md: what counts as misrouted)."""

    kind = "staff_transfer"
    by: str | None  # the transferring agent's extension (None: the API token)
    to: str  # queue | agent | external
    target: str
    reason: str | None
    category: str | None  # the call's category from now on
    misrouted: bool = False


@dataclass(frozen=True)
class PhoneTransferTarget(CallFact):
    kind = "transfer_target"
    target: str | None


@dataclass(frozen=True)
class PhoneTransferFailed(CallFact):
    """Nobody took the transferred call: the caller goes back to the transferring agent's
    queue, at the front (a callback's patient: the dialplan's fallback)."""

    kind = "transfer_failed"


@dataclass(frozen=True)
class CallShed(CallFact):
    """Admission control handed the new call straight back to the dialplan (its fallback
    rings the front desk): frontdesk was past its limits (calls/admission.py)."""

    kind = "shed"
    reason: str


@dataclass(frozen=True)
class CallInterrupted(CallFact):
    """The call ended while frontdesk could not see it: its real outcome is unknown."""

    kind = "interrupted"


# -- staff phones ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmergencyCallPlaced(CallFact):
    """A staff phone dialled 911 (the dialplan's AMI UserEvent `FrontdeskEmergencyCall`):
    Kari's Law wants someone on site told. `call` is the 911 call's linkedid, a call that
    never reaches frontdesk's menu (stored as an event of a bare `calls` row);
    `extension` the phone's, `name` its staff member's in the plan (None: nobody's)."""

    kind = "emergency_call"
    extension: str
    name: str | None = None

    @classmethod
    def reported(cls, call: str, digits: str, staff: Iterable[Staff]) -> EmergencyCallPlaced:
        """From the UserEvent's `Extension` and the plan's staff. A phone number is no
        desk phone's extension (a caller's call transferred to 911 may carry the caller's
        number): it is masked, never shown or stored in full."""
        member = next((s for s in staff if s.extension == digits), None)
        extension = digits if member is not None or len(digits) < 7 else mask_number(digits)
        return cls(call, extension, member.name if member is not None else None)


# -- staff -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentStateChanged:
    """An agent's state as the board shows it (logged_out, idle, ringing, talking…);
    `reason`: a pause's reason (lunch, meeting, admin, the plan's own), None without."""

    kind: ClassVar[str] = "agent"
    ext: str
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class AgentPresenceChanged:
    """What the agent chose changed: logged in or out, paused or not, the pause's reason
    (whatever the board shows meanwhile: a paused agent may finish a call). What a
    restart restores (the recorder keeps it in `agent_presence`)."""

    kind: ClassVar[str] = "agent_presence"
    ext: str
    logged_in: bool
    paused: bool
    pause_reason: str | None = None


HubEvent = CallFact | AgentStateChanged | AgentPresenceChanged

# Facts after which nothing more happens to the call in frontdesk.
FINISHING: tuple[type[CallFact], ...] = (
    ConversationEnded,
    CallAbandoned,
    VoicemailLeft,
    CallbackTaskRaised,
    CallInterrupted,
)

_BY_KIND: dict[str, type[CallFact]] = {
    cls.kind: cls for cls in CallFact.__subclasses__() if cls not in (CallStarted, CallRouted)
}


def from_record(kind: str, call: str, data: object) -> CallFact | None:
    """A stored fact back as data (the board's unacknowledged alerts at start); None
    when the kind is unknown. Fields missing or of the wrong type take their defaults
    (None, or "" / 0 / False where None is not allowed): stored rows may be data from an
    older version."""
    cls = _BY_KIND.get(kind)
    if cls is None:
        return None
    stored = data if isinstance(data, dict) else {}
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name == "call" or not field.init:
            continue
        value = _coerce(stored.get(field.name), hints[field.name])
        if value is None and field.default is not dataclasses.MISSING:
            value = field.default
        elif value is None:
            value = _EMPTY.get(hints[field.name])  # a required field: its empty value
        values[field.name] = value
    return cls(call, **values)


_EMPTY: dict[Any, object] = {str: "", int: 0, bool: False}


def _coerce(value: object, hint: Any) -> Any:
    """`value` if it fits `hint` (str, int, bool, tuple of str, or one of those | None)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        return _coerce(value, options[0]) if len(options) == 1 else None
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else []
        return tuple(str(v) for v in items if isinstance(v, str))
    if hint is bool:
        return value if isinstance(value, bool) else None
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if hint is str:
        return value if isinstance(value, str) else None
    return None
