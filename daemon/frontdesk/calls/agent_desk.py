"""The staff side of the ACD: who is on duty, from which phone, and why they paused.

- At start, each agent as last stored (store/presence.py), else `FRONTDESK_AGENTS_START`
  (`start_agents`); every change after that is an `AgentPresenceChanged` fact that the
  recorder keeps in PostgreSQL (`after_step`).
- Feature codes from a staff phone (`*45` login, `*46` logout, `*47` pause toggle),
  confirmed with a beep, audited as `agent:<ext>`.
- Phones that AMI reports unregistered (`phone_reachable`).
- `logged_in`: who staffs their queues (docs/routing.md §3.2: logged in, paused or not,
  with a reachable phone), kept from the engine's `AgentState`; the router reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from frontdesk.acd.model import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentState,
    Event,
    PausedToggle,
    PhoneReachability,
)
from frontdesk.acd.model import Command as EngineCommand
from frontdesk.acd.staffing import staffs
from frontdesk.calls import events
from frontdesk.calls.commands import Answer, Hangup, Play, Wait
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.stasis import Entered
from frontdesk.plan.model import Plan
from frontdesk.store.records import AgentPresence, AuditEntry

if TYPE_CHECKING:  # the ACD runtime owns this desk; only its type is needed here
    from frontdesk.calls.acd_runtime import AcdRuntime

log = structlog.get_logger("frontdesk.acd")

_FEATURES: dict[str, Callable[[str], Event]] = {
    "login": AgentLogin,
    "logout": AgentLogout,
    "pause": PausedToggle,
}


class AgentDesk:
    def __init__(
        self,
        plan: Plan,
        acd: AcdRuntime,
        executor: CommandExecutor,
        hub: EventHub,
        *,
        now: Callable[[], datetime],
        logged_in: set[str],
    ) -> None:
        self.plan = plan
        self.acd = acd
        self.executor = executor
        self.hub = hub
        self.now = now
        self.logged_in = logged_in
        self.audit: Callable[[AuditEntry], None] | None = None  # feature codes (the outbox)
        # What each agent chose (logged in, paused, why), as last published on the hub.
        self._presence: dict[str, tuple[bool, bool, str | None]] = {}

    def login_everyone(self, extensions: Collection[str]) -> None:
        for ext in extensions:
            self.acd.feed(AgentLogin(ext))

    def start_agents(
        self, stored: Mapping[str, AgentPresence] | None, *, everyone: bool
    ) -> list[str]:
        """At start, before calls are taken: each staff member as last stored (logged in or
        out, paused and why: store/presence.py). One never stored (a first run, a new
        member), or everyone when the database could not be read (`stored` None), starts
        logged in if `everyone` (FRONTDESK_AGENTS_START=all), else logged out. Returns
        the extensions that took that default."""
        defaulted = []
        for member in self.plan.staff:
            ext = member.extension
            presence = stored.get(ext) if stored is not None else None
            if presence is None:
                defaulted.append(ext)
                if everyone:
                    self.acd.feed(AgentLogin(ext))
                    self._audit("system", "agent_login", ext, {"source": "agents_start"})
            elif presence.logged_in:
                self.acd.feed(AgentLogin(ext))
                if presence.paused:
                    self.acd.feed(AgentPause(ext, presence.pause_reason))
        return defaulted

    def phone_reachable(self, ext: str, reachable: bool) -> None:
        self.acd.feed(PhoneReachability(ext, reachable))

    def after_step(self, event: Event, commands: list[EngineCommand]) -> None:
        """`AgentPresenceChanged` for each agent this step touched whose choice changed
        (the event's agent, and any whose shown state changed: a missed ring pauses)."""
        ext_of_event = getattr(event, "ext", None)
        touched = {c.ext for c in commands if isinstance(c, AgentState)}
        if isinstance(ext_of_event, str):
            touched.add(ext_of_event)
        for ext in touched:
            view = self.acd.engine.agent(ext)
            if view is None:
                continue
            chosen = (view.logged_in, view.paused, view.pause_reason)
            if self._presence.get(ext, (False, False, None)) != chosen:
                self._presence[ext] = chosen
                self.hub.publish(events.AgentPresenceChanged(ext, *chosen))

    def feature_call(self, entered: Entered) -> None:
        """Staff feature codes: *45 login, *46 logout, *47 pause toggle."""
        ext, channel = entered.caller_number.strip(), entered.channel_id
        make = _FEATURES.get(entered.feature or "")
        known = any(s.extension == ext for s in self.plan.staff)
        if make is not None and known:
            self.acd.feed(make(ext))
            log.info("acd.feature_code", ext=ext, action=entered.feature)
            action = entered.feature
            if make is PausedToggle:  # *47 toggles: say which way it went
                view = self.acd.engine.agent(ext)
                action = "pause" if view is not None and view.paused else "unpause"
            self._audit(f"agent:{ext}", f"agent_{action}", ext, {})
        sound = "sound:beep" if make is not None and known else "sound:invalid"
        self.executor.submit(
            channel,
            [
                Answer(channel),
                Play(channel, f"{channel}-feature", (sound,)),
                Wait(channel, 0.5),
                Hangup(channel),
            ],
        )

    def state_changed(self, ext: str, state: str, reason: str | None = None) -> None:
        if staffs(state):  # logged in with a reachable phone: routing counts them
            self.logged_in.add(ext)
        else:
            self.logged_in.discard(ext)
        self.hub.publish(events.AgentStateChanged(ext, state, reason))

    def _audit(self, actor: str, action: str, ext: str, data: dict[str, str]) -> None:
        if self.audit is None:
            return
        try:
            self.audit(AuditEntry(self.now(), actor, action, ext, data))
        except Exception:  # record keeping must not stop a feature code
            log.exception("acd.audit_failed", action=action)
