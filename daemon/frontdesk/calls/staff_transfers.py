"""Staff hand a patient on through frontdesk: from the agent page, the API, or the
agent's phone (`*8` + a queue's number, during the conversation).

- **To a queue**: the patient goes on hold in that queue and keeps their place by
  their original arrival; the agent may correct the category or the skill ("this is
  cardiology, not billing"). A move to another queue or category counts as misrouted.
- **To a colleague**: their phone rings while the patient hears music; when they answer
  they join the conversation bridge.
- **To an external number of the plan**: its `dial` string, never a number typed by
  hand.

The agent's part ends at once (wrap-up). A colleague or number that does not answer
sends the patient back to the queue they came from, at the front (calls/transfers.py).
Each transfer is a `StaffTransferred` fact: who, to what, and why.

`*8<n>` on the agent's phone moves the patient to the plan's n-th queue (1-9, in the
plan's order, as the agent page lists them).
"""

from __future__ import annotations

import dataclasses
import re

import structlog

from frontdesk.acd.lifecycle import CallerState
from frontdesk.calls import events
from frontdesk.calls.acd_runtime import AcdRuntime, Queued
from frontdesk.calls.commands import BridgeMusic, Hangup, Originate
from frontdesk.calls.stasis import Leg, leg_args
from frontdesk.calls.transfers import conversation_bridge
from frontdesk.plan.model import Plan
from frontdesk.routing.destination import Request

log = structlog.get_logger("frontdesk.acd")

RING_SECONDS = 30  # a colleague or number that has not answered by then: back to the queue
MAX_REASON = 200
FEATURE = "*8"
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TransferRefused(Exception):
    """A transfer that cannot be done; `status`: 404 no such call, 409 not now, 422 bad target."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class StaffTransfers:
    def __init__(self, plan: Plan, acd: AcdRuntime) -> None:
        self.plan = plan
        self.acd = acd
        self._keys: dict[str, str] = {}  # call -> the agent's keys pressed so far
        self._seq = 0
        acd.agent_keys = self._agent_key

    def to_queue(
        self,
        call: str,
        queue: str,
        *,
        by: str | None,
        reason: str | None = None,
        category: str | None = None,
        skill: str | None = None,
    ) -> None:
        queued = self._talking(call)
        if queue not in self.plan.queues:
            raise TransferRefused(422, f"no queue '{queue}' in the plan")
        if category is not None and not _CATEGORY.match(category):
            raise TransferRefused(422, "a category is lower-case letters, digits and _")
        if skill is not None and not any(m.level(skill) > 0 for m in self.plan.members(queue)):
            raise TransferRefused(422, f"nobody in '{queue}' has the skill '{skill}'")
        before = queued.joined
        joined = dataclasses.replace(
            before, queue=queue, skill=skill, category=category or before.category
        )
        request = Request(joined.category, queue, skill, queued.request.urgent)
        misrouted = queue != before.queue or joined.category != before.category
        self._said(call, by, "queue", queue, reason, joined.category, misrouted)
        self.acd.requeue(call, joined, request)

    def to_agent(self, call: str, ext: str, *, by: str | None, reason: str | None = None) -> None:
        queued = self._talking(call)
        if not any(s.extension == ext for s in self.plan.staff):
            raise TransferRefused(422, f"no staff extension '{ext}' in the plan")
        if ext == queued.agent_ext:
            raise TransferRefused(422, "the call is already with that agent")
        self._said(call, by, "agent", ext, reason, queued.joined.category)
        self._dial(queued, f"PJSIP/{ext}")

    def to_external(
        self, call: str, name: str, *, by: str | None, reason: str | None = None
    ) -> None:
        queued = self._talking(call)
        external = self.plan.external.get(name)
        if external is None:
            raise TransferRefused(422, f"no external '{name}' in the plan")
        self._said(call, by, "external", name, reason, queued.joined.category)
        self._dial(queued, external.dial)

    # -- the agent's phone: *8<n> -------------------------------------------------------------
    def _agent_key(self, call: str, ext: str, digit: str) -> None:
        keys = (self._keys.get(call, "") + digit)[-3:]
        self._keys[call] = keys
        if len(keys) < 3 or not keys.startswith(FEATURE) or not keys[2].isdigit():
            return
        del self._keys[call]
        queues = list(self.plan.queues)
        number = int(keys[2])
        if not 1 <= number <= len(queues):
            log.info("acd.feature_transfer_refused", call=call, agent=ext, number=number)
            return
        try:
            self.to_queue(call, queues[number - 1], by=ext, reason=f"{FEATURE}{number}")
        except TransferRefused as exc:
            log.info("acd.feature_transfer_refused", call=call, agent=ext, error=exc.message)

    # -- the steps ----------------------------------------------------------------------------
    def _talking(self, call: str) -> Queued:
        queued = self.acd.calls.get(call)
        if queued is None:
            raise TransferRefused(404, "no such call")
        if self.acd.state(call) is not CallerState.TALKING or queued.patient_leg is not None:
            raise TransferRefused(409, "only a conversation with a caller can be transferred")
        return queued

    def _said(
        self,
        call: str,
        by: str | None,
        to: str,
        target: str,
        reason: str | None,
        category: str | None,
        misrouted: bool = False,
    ) -> None:
        reason = (reason or "").strip()[:MAX_REASON] or None
        log.info("acd.staff_transfer", call=call, by=by, to=to, target=target)
        fact = events.StaffTransferred(call, by, to, target, reason, category, misrouted)
        self.acd.hub.publish(fact)

    def _dial(self, queued: Queued, endpoint: str) -> None:
        """The agent leaves; the patient hears music while frontdesk rings the target."""
        call, agent_leg = queued.channel, queued.agent_leg
        self._seq += 1
        leg = f"{call}-handover-{self._seq}"
        self.acd.hand_over(call, leg, dialled=True)
        bridge = conversation_bridge(call)
        ring = Originate(leg, endpoint, leg_args(Leg.HANDOVER, call), queued.number, RING_SECONDS)
        hang_up = [Hangup(agent_leg)] if agent_leg else []
        self.acd.executor.submit(call, [*hang_up, BridgeMusic(call, bridge, on=True), ring])
