"""The live board's model: pure code fed by the event hub's facts and the ACD's snapshots.

`BoardState` remembers what a snapshot of the ACD does not: escalation alerts and who
acknowledged them, callback tasks that need a person, and today's service level per
queue. `board_view` turns an `AcdSnapshot` plus that state into the JSON the board
pages render, for one viewer: caller numbers are full only for roles that need them
(`see_full_numbers`), masked otherwise.

Choices where the issue is silent:
- service level today = calls answered within the threshold (default 60 s, the reports'
  figure) / (answered + abandoned after the short-abandon threshold), per queue, since
  local midnight; callers still waiting are not counted until they are answered or leave.
  It covers calls seen since the daemon started (or seeded from today's call rows).
- an escalation alert stays on the board until someone acknowledges it, even after the
  caller was answered (the board says so): a nurse must see that a patient waited too long.
- a staff phone's 911 call (Kari's Law: someone on site must be told) is an alert that
  stays until acknowledged, listed before every other alert until then, and never the
  one dropped past `MAX_ALERTS` while unacknowledged; frontdesk does not follow the 911
  call itself (its `call_state` is `unknown`).
- a callback task (callbacks that failed every attempt) and a voicemail message (with the
  callback the practice promised: its due time) stay until acknowledged too: someone
  must call the patient back.
- the board keeps at most `MAX_ALERTS` alerts; the oldest acknowledged go first.
- each alert's time is shown in the practice's time zone (the view's `zone`).
- a callback task or voicemail message may be *claimed* by one person (the agent page's
  "claim": the others see who has it) and is done when acknowledged, with the outcome
  of returning the call (`RETURN_OUTCOMES`); an escalation is never claimed.
- a queue open by its schedule but with no member on duty (logged in with a reachable
  phone: docs/routing.md §3.2) shows as *unstaffed*: its new callers go to after hours;
  an agent who is logged in with an unregistered phone shows *phone unreachable*.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from frontdesk.acd.model import AcdSnapshot, AgentView, CallerView, QueueView
from frontdesk.calls.events import (
    CallAbandoned,
    CallAnswered,
    CallbackChosen,
    CallbackTaskRaised,
    CallFact,
    CallRouted,
    CallShed,
    CallStarted,
    EmergencyCallPlaced,
    EscalationRaised,
    GoliveCaseSeen,
    HubEvent,
    QueueJoined,
    SentAfterHours,
    VoicemailLeft,
)
from frontdesk.phone import mask_number

MAX_ALERTS = 200
OVERLOAD_SHOWN = timedelta(seconds=60)
SERVICE_LEVEL = timedelta(seconds=60)
SHORT_ABANDON = timedelta(seconds=10)
CALLBACK_STATUSES = frozenset({"callback", "callback_retry", "calling_back"})
# the facts that raise an alert (their stored `kind` is the alert's)
ALERT_FACTS: tuple[type[CallFact], ...] = (
    EmergencyCallPlaced,
    EscalationRaised,
    CallbackTaskRaised,
    VoicemailLeft,
)
# the alerts that ask a person to call a patient back (claimed, then done with an outcome)
RETURNABLE_KINDS = frozenset({CallbackTaskRaised.kind, VoicemailLeft.kind})
RETURN_OUTCOMES = ("reached", "left_message", "no_answer", "wrong_number")


@dataclass
class Alert:
    """A staff phone's 911 call, an escalation (a caller waited too long), a callback
    task (callbacks all failed) or a voicemail message to return."""

    id: int
    kind: str  # emergency_call | escalation | callback_task | voicemail
    call: str
    queue: str | None
    raised_at: datetime
    waited_s: int | None = None
    recipients: tuple[str, ...] = ()
    category: str | None = None
    box: str | None = None  # voicemail: the box the message is in
    due: str | None = None  # voicemail: when the practice promised to call back (ISO)
    extension: str | None = None  # emergency_call: the phone that dialled 911
    staff_name: str | None = None  # emergency_call: whose phone it is, in the plan
    call_state: str = "waiting"  # waiting | answered | gone | ended (before a restart) | unknown
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    claimed_by: str | None = None  # who is returning the call (a username)
    claimed_at: datetime | None = None
    outcome: str | None = None  # of returning the call, given when it was acknowledged

    @property
    def returnable(self) -> bool:
        return self.kind in RETURNABLE_KINDS

    @property
    def urgent(self) -> bool:
        """A 911 call nobody acknowledged yet: first on the board, never dropped."""
        return self.kind == EmergencyCallPlaced.kind and self.acknowledged_by is None

    def held_by_other(self, username: str) -> bool:
        """Someone else claimed it: they are returning the call."""
        return self.claimed_by not in (None, username)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "call": self.call,
            "queue": self.queue,
            "raised_at": self.raised_at.isoformat(),
            "waited_s": self.waited_s,
            "recipients": list(self.recipients),
            "category": self.category,
            "box": self.box,
            "due": self.due,
            "extension": self.extension,
            "staff_name": self.staff_name,
            "call_state": self.call_state,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": None
            if self.acknowledged_at is None
            else self.acknowledged_at.isoformat(),
            "claimed_by": self.claimed_by,
            "claimed_at": None if self.claimed_at is None else self.claimed_at.isoformat(),
            "outcome": self.outcome,
        }


@dataclass
class _DayCounts:
    answered_in_time: int = 0
    answered: int = 0
    abandoned: int = 0

    def level(self) -> float | None:
        offered = self.answered + self.abandoned
        return None if offered == 0 else self.answered_in_time / offered


@dataclass
class BoardState:
    zone: ZoneInfo
    service_level: timedelta = SERVICE_LEVEL
    short_abandon: timedelta = SHORT_ABANDON
    alerts: list[Alert] = field(default_factory=list)
    _joined: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    _day: date | None = None
    _counts: dict[str, _DayCounts] = field(default_factory=dict)
    _next_id: int = 1
    _shed: deque[tuple[datetime, str]] = field(default_factory=deque)  # (at, reason), recent

    def on_event(self, event: HubEvent, at: datetime) -> bool:
        """Take one hub event; True when the board may have changed because of it (the
        ACD's snapshot moves with the queue's facts and agent states too)."""
        match event:
            case CallShed(reason=reason):
                self._forget_shed(at)
                self._shed.append((at, reason))
            case QueueJoined(call=call, queue=queue):
                self._joined[call] = (queue, at)
            case CallAnswered(call=call):
                self._left(call, at, answered=True)
                self._mark_alerts(call, "answered")
            case CallAbandoned() | SentAfterHours() | CallbackChosen():
                counted = isinstance(event, CallAbandoned)
                self._left(event.call, at, answered=False, counted=counted)
                self._mark_alerts(event.call, "gone")
            case EmergencyCallPlaced(call=call, extension=extension, name=name):
                alert = Alert(0, event.kind, call, None, at, call_state="unknown")
                alert.extension, alert.staff_name = extension, name
                self._raise(alert)
            case EscalationRaised(call=call, queue=queue, waited_s=waited, recipients=to):
                self._raise(Alert(0, event.kind, call, queue, at, waited, to))
            case VoicemailLeft(call=call, box=box, category=category, callback_due=due):
                alert = Alert(0, event.kind, call, None, at, category=category, call_state="gone")
                alert.box, alert.due = box, due
                self._raise(alert)
            case CallbackTaskRaised(call=call, category=category, queue=queue):
                self._raise(
                    Alert(0, event.kind, call, queue, at, category=category, call_state="gone")
                )
            case CallStarted() | CallRouted() | GoliveCaseSeen():
                return False  # before the queue: nothing on the board
        return True

    def alert(self, alert_id: int) -> Alert | None:
        return next((a for a in self.alerts if a.id == alert_id), None)

    def acknowledge(
        self, alert_id: int, by: str, at: datetime, outcome: str | None = None
    ) -> Alert | None:
        """Acknowledge an alert (once: a second acknowledgement keeps the first's name and
        outcome)."""
        alert = self.alert(alert_id)
        if alert is not None and alert.acknowledged_by is None:
            alert.acknowledged_by, alert.acknowledged_at, alert.outcome = by, at, outcome
        return alert

    def claim(self, alert_id: int, by: str, at: datetime) -> Alert | None:
        """`by` takes a callback task or voicemail message (the first claim stands; the
        caller checks `claimed_by`). None: no such alert, or not one to return."""
        alert = self.alert(alert_id)
        if alert is None or not alert.returnable:
            return None
        if alert.claimed_by is None and alert.acknowledged_by is None:
            alert.claimed_by, alert.claimed_at = by, at
        return alert

    def release(self, alert_id: int) -> Alert | None:
        """Nobody's again (the caller checks who may)."""
        alert = self.alert(alert_id)
        if alert is not None and alert.acknowledged_by is None:
            alert.claimed_by = alert.claimed_at = None
        return alert

    def restore_claim(self, call: str, kind: str, by: str, at: datetime) -> None:
        """A claim read back from the audit log at start (the newest alert of that call)."""
        alert = next((a for a in reversed(self.alerts) if (a.call, a.kind) == (call, kind)), None)
        if alert is not None:
            self.claim(alert.id, by, at)

    def seed(self, answered: Iterable[tuple[str, timedelta | None, bool]], at: datetime) -> None:
        """Today's earlier calls (queue, wait, answered) from the call rows, at start-up."""
        counts = self._today(at)
        for queue, wait, was_answered in answered:
            self._count(counts, queue, wait or timedelta(), was_answered)

    def recent_shed(self, at: datetime) -> list[tuple[datetime, str]]:
        """Calls shed by admission control in the last `OVERLOAD_SHOWN`, oldest first."""
        self._forget_shed(at)
        return list(self._shed)

    def _forget_shed(self, at: datetime) -> None:
        while self._shed and at - self._shed[0][0] >= OVERLOAD_SHOWN:
            self._shed.popleft()

    def service_level_today(self, queue: str, at: datetime) -> float | None:
        return self._today(at).get(queue, _DayCounts()).level()

    def _left(self, call: str, at: datetime, *, answered: bool, counted: bool = True) -> None:
        joined = self._joined.pop(call, None)
        if joined is None or not (answered or counted):
            return
        queue, since = joined
        self._count(self._today(at), queue, at - since, answered)

    def _count(
        self, counts: dict[str, _DayCounts], queue: str, wait: timedelta, answered: bool
    ) -> None:
        day = counts.setdefault(queue, _DayCounts())
        if answered:
            day.answered += 1
            day.answered_in_time += wait <= self.service_level
        elif wait >= self.short_abandon:
            day.abandoned += 1

    def _today(self, at: datetime) -> dict[str, _DayCounts]:
        day = at.astimezone(self.zone).date()
        if day != self._day:
            self._day, self._counts = day, {}
        return self._counts

    def _raise(self, alert: Alert) -> None:
        alert.id = self._next_id
        self._next_id += 1
        self.alerts.append(alert)
        while len(self.alerts) > MAX_ALERTS:
            self.alerts.remove(self._droppable())

    def _droppable(self) -> Alert:
        """The oldest acknowledged alert, else the oldest not urgent, else the oldest."""
        done = next((a for a in self.alerts if a.acknowledged_by is not None), None)
        return done or next((a for a in self.alerts if not a.urgent), self.alerts[0])

    def _mark_alerts(self, call: str, state: str) -> None:
        for alert in self.alerts:
            if alert.call == call and alert.kind == EscalationRaised.kind:
                alert.call_state = state


@dataclass(frozen=True)
class Viewer:
    """Who looks at the board: what decides the masking and the `me` section."""

    full_numbers: bool
    extension: str | None = None


def _overload(state: BoardState, at: datetime) -> dict[str, Any] | None:
    recent = state.recent_shed(at)
    if not recent:
        return None
    return {"shed_last_minute": len(recent), "reason": recent[-1][1]}


def board_view(
    snapshot: AcdSnapshot,
    state: BoardState,
    viewer: Viewer,
    *,
    number_of: Callable[[str], str | None],
    open_now: Mapping[str, bool],
    at: datetime,
) -> dict[str, Any]:
    """The board for one viewer, as JSON-able data (the browser renders it as text)."""
    show = (lambda n: n) if viewer.full_numbers else mask_number

    def caller(position: int, c: CallerView) -> dict[str, Any]:
        number = number_of(c.call_id)
        return {
            "position": position,
            "call": c.call_id,
            "number": None if number is None else show(number),
            "priority": c.priority,
            "status": c.status,
            "category": c.category,
            "waited_s": int(c.waited.total_seconds()),
            "agent": c.agent,
            "escalated": c.escalated,
            "callback_attempts": c.callback_attempts,
        }

    def queue(q: QueueView) -> dict[str, Any]:
        waiting = [c for c in q.callers if c.status not in CALLBACK_STATUSES]
        level = state.service_level_today(q.name, at)
        return {
            "name": q.name,
            "label": q.name.replace("_", " ").capitalize(),
            "open": open_now.get(q.name),
            "callers": [caller(i, c) for i, c in enumerate(waiting, start=1)],
            "longest_wait_s": max((int(c.waited.total_seconds()) for c in waiting), default=0),
            "service_level_today": None if level is None else round(level, 3),
            "logged_in": q.logged_in,
            "available": q.available,
            "staffed": q.staffed,  # members on duty (acd/staffing.py)
        }

    callbacks = [
        caller(i, c)
        for i, c in enumerate(
            (c for q in snapshot.queues for c in q.callers if c.status in CALLBACK_STATUSES),
            start=1,
        )
    ]
    view: dict[str, Any] = {
        "at": at.isoformat(),
        "service_level_s": int(state.service_level.total_seconds()),
        "queues": [queue(q) for q in snapshot.queues],
        "agents": [_agent(a) for a in snapshot.agents],
        "zone": state.zone.key,  # the practice's: alert times are shown in it
        "alerts": [a.as_json() for a in sorted(state.alerts, key=_board_order)],
        "callbacks": callbacks,
        "overload": _overload(state, at),
    }
    if viewer.extension is not None:
        mine = next((a for a in snapshot.agents if a.ext == viewer.extension), None)
        view["me"] = None if mine is None else _agent(mine)
    return view


def _board_order(alert: Alert) -> tuple[bool, int]:
    """Newest first (ids grow as alerts are raised), but an unacknowledged 911 call before
    everything else."""
    return not alert.urgent, -alert.id


def _agent(a: AgentView) -> dict[str, Any]:
    return {
        "ext": a.ext,
        "name": a.name,
        "state": a.state,
        "pause_reason": a.pause_reason if a.state == "paused" else None,
        "in_state_s": None if a.in_state is None else int(a.in_state.total_seconds()),
        "call": a.call_id,
        "queues": list(a.queues),
    }


def masked_for(board: Mapping[str, Any], viewer: Viewer) -> dict[str, Any]:
    """Another site's board (stored with full numbers: store/site_boards.py) as `viewer`
    may see it: the callers' numbers masked as `board_view` masks them. Pure."""
    view = dict(board)
    view.pop("me", None)
    if viewer.full_numbers:
        return view

    def masked(caller: Mapping[str, Any]) -> dict[str, Any]:
        number = caller.get("number")
        return {**caller, "number": None if number is None else mask_number(str(number))}

    view["queues"] = [
        {**q, "callers": [masked(c) for c in q.get("callers", [])]} for q in board.get("queues", [])
    ]
    view["callbacks"] = [masked(c) for c in board.get("callbacks", [])]
    return view


def aged(board: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """A stored board `seconds` after it was rendered: waits and times in state moved on
    (an unchanged board is rewritten only every few seconds). Pure."""
    extra = max(0, int(seconds))

    def later(value: Any) -> Any:
        return value + extra if isinstance(value, int) else value

    def caller(c: Mapping[str, Any]) -> dict[str, Any]:
        return {**c, "waited_s": later(c.get("waited_s"))}

    view = dict(board)
    view["queues"] = [
        {
            **q,
            "callers": [caller(c) for c in q.get("callers", [])],
            "longest_wait_s": later(q.get("longest_wait_s")) if q.get("callers") else 0,
        }
        for q in board.get("queues", [])
    ]
    view["callbacks"] = [caller(c) for c in board.get("callbacks", [])]
    view["agents"] = [
        {**a, "in_state_s": later(a.get("in_state_s"))} for a in board.get("agents", [])
    ]
    return view
