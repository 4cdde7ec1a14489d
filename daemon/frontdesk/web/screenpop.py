"""Screen pops: the caller's payload for the agent being rung, and only for them.

`ScreenPops(source)` listens to the event hub (`hub.add_listener(pops.on_hub)`). When an
agent's phone is offered a call, the hub carries an `AgentRinging` fact (calls/events.py:
the call id = linkedid, the agent's extension, the caller's number in full or None, the
language and the category); the pop is then built (`ScreenPopSource.build`, in a task of
its own, never longer than the source's timeout) as that agent's current pop.

Lifetime of a pop (one per extension at most):
- it replaces the agent's previous pop when the agent is rung again (for any call);
- a ring of the same call on another agent takes it away from the first agent: only the
  agent being, or last, rung for a call sees its pop;
- `CallAnswered`, `CallAbandoned` and `ConversationEnded` for the call keep it (the agent
  can still look at it during and after the conversation, e.g. for wrap-up); they only
  mark its `status`;
- the agent logging out (`AgentStateChanged(ext, "logged_out")`) drops it;
- nothing is persisted: a restart forgets every pop.

`add_screenpop_routes(app, pops, put_audit, now)` adds `GET /api/agents/{ext}/screenpop`:
200 with the pop of that agent, 204 when there is none. Only the signed-in user whose
extension is `ext` may look (else 403), or the API token's service user (web/auth.py).
Each 200 puts one `AuditEntry(actor=<who read it>, action="screenpop_view",
subject=<call id>, data={"patient_id": ..., "on_behalf": "agent:<ext>"})`: the actor is
`user:<username>`, or `token` for the API token (web/audit_actor.py), never the agent
the pop was for; if the audit entry cannot be put, the pop is not shown (503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from aiohttp import web

from frontdesk.calls.events import (
    AgentRinging,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallFact,
    ConversationEnded,
    HubEvent,
)
from frontdesk.store.records import AuditEntry
from frontdesk.web.audit_actor import actor, on_behalf
from frontdesk.web.auth import API_USER, current_user, forbidden

log = structlog.get_logger("frontdesk.web")

# facts that keep the call's pop, and the status they give it
_KEEPING: dict[type[CallFact], str] = {
    CallAnswered: "answered",
    CallAbandoned: "abandoned",
    ConversationEnded: "ended",
}


class PopSource(Protocol):
    """What `ScreenPops` needs of `frontdesk.store.screenpop.ScreenPopSource`."""

    @property
    def timeout(self) -> float: ...

    async def build(
        self, number: str | None, language: str, category: str, *, linkedid: str | None = None
    ) -> dict[str, Any]: ...


@dataclass
class Pop:
    call: str
    agent: str
    task: asyncio.Task[dict[str, Any]]
    status: str = "ringing"  # ringing | answered | abandoned | ended
    payload: dict[str, Any] | None = field(default=None)
    number: str | None = None  # in full: the agent may need to call the patient back

    def view(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "agent": self.agent,
            "status": self.status,
            "number": self.number,
            **(self.payload or {}),
        }


class ScreenPops:
    """The current pop of each agent, fed by the event hub (see the module's docstring)."""

    def __init__(self, source: PopSource) -> None:
        self._source = source
        self._pops: dict[str, Pop] = {}
        # call -> the agent whose pop it is (one at most): a call's events find its pop
        # without a scan of every agent's (hundreds of agents, several events a call)
        self._agent_of: dict[str, str] = {}

    def on_hub(self, event: HubEvent) -> None:
        """The hub's listener (synchronous)."""
        match event:
            case AgentRinging():
                self._ringing(event)
            case CallAnswered() | CallAbandoned() | ConversationEnded():
                pop = self._pops.get(self._agent_of.get(event.call, ""))
                if pop is not None and pop.call == event.call:
                    pop.status = _KEEPING[type(event)]
            case AgentStateChanged(ext=ext, state="logged_out"):
                self._drop(ext)

    def _ringing(self, ringing: AgentRinging) -> None:
        call, ext = ringing.call, ringing.agent
        other = self._agent_of.get(call)
        if other is not None and other != ext:
            self._drop(other)  # only the agent last rung for a call sees its pop
        self._drop(ext)
        task = asyncio.get_running_loop().create_task(
            self._source.build(ringing.number, ringing.language, ringing.category, linkedid=call)
        )
        pop = Pop(call=call, agent=ext, task=task, number=ringing.number)
        self._pops[ext] = pop
        self._agent_of[call] = ext
        task.add_done_callback(lambda done: self._built(pop, done))

    def _built(self, pop: Pop, task: asyncio.Task[dict[str, Any]]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # build() never raises; be safe all the same
            log.warning("screenpop.build_failed", error=type(error).__name__)
            pop.payload = {"patient": None, "last_call": None, "degraded": True}
            return
        pop.payload = task.result()

    def _drop(self, ext: str) -> None:
        pop = self._pops.pop(ext, None)
        if pop is not None and self._agent_of.get(pop.call) == ext:
            del self._agent_of[pop.call]
        if pop is not None and not pop.task.done():
            pop.task.cancel()

    async def current(self, ext: str) -> Pop | None:
        """The agent's pop, waiting (at most a little over the source's timeout) for one
        still being built; None when there is none or it is not ready."""
        pop = self._pops.get(ext)
        if pop is None:
            return None
        if pop.payload is None:
            await asyncio.wait({pop.task}, timeout=self._source.timeout + 0.5)
            await asyncio.sleep(0)  # let the done callback store the payload
        if self._pops.get(ext) is not pop or pop.payload is None:
            return None
        return pop

    async def close(self) -> None:
        tasks = [p.task for p in self._pops.values() if not p.task.done()]
        self._pops.clear()
        self._agent_of.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def add_screenpop_routes(
    app: web.Application,
    pops: ScreenPops,
    put_audit: Callable[[AuditEntry], None],
    now: Callable[[], datetime],
) -> None:
    async def screenpop(request: web.Request) -> web.StreamResponse:
        ext = request.match_info["ext"]
        user = current_user(request)
        if user != API_USER and user.extension != ext:
            return forbidden(request, "a screen pop is only for the agent it rings")
        pop = await pops.current(ext)
        if pop is None:
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        patient = (pop.payload or {}).get("patient") or {}
        data = {"patient_id": patient.get("patient_id"), **on_behalf(ext)}
        entry = AuditEntry(
            at=now(), actor=actor(user), action="screenpop_view", subject=pop.call, data=data
        )
        try:
            put_audit(entry)
        except Exception as exc:  # no audit entry, no pop
            log.error("screenpop.audit_failed", error=type(exc).__name__)
            return web.json_response(
                {"error": "audit unavailable"}, status=503, headers={"Cache-Control": "no-store"}
            )
        return web.json_response(pop.view(), headers={"Cache-Control": "no-store"})

    app.router.add_get("/api/agents/{ext}/screenpop", screenpop)
