"""The routing decision for FastAGI callers: dialplans that keep their own menus and queues.

A dialplan that runs its own IVR passes the keys the caller pressed in the AGI URL
(`agi://127.0.0.1:4573/route?keys=${IVR_KEYS}`, `-` for a timeout); frontdesk runs
the same IVR machine as for Stasis calls, with those keys, at the current moment, and
answers with `FRONTDESK_*` channel variables. With no keys the caller is taken as
silent, which ends at the front desk: a lost caller always reaches a person.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from frontdesk.asterisk.fastagi import AgiRequest, RouteVariables
from frontdesk.calls.runtime import Clock, utc_now
from frontdesk.phone import normalize_number
from frontdesk.plan.model import FRONT_DESK, Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import QueueDestination, TransferDestination
from frontdesk.routing.directory import Directory
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.simulate import parse_keys, simulate


def agi_decider(
    plan: Plan,
    directory: Directory,
    logged_in: Collection[str],
    now: Clock = utc_now,
) -> Callable[[AgiRequest], RouteVariables]:
    clock = PracticeClock(plan)
    region = plan.practice.phone_region

    def decide(request: AgiRequest) -> RouteVariables:
        caller = normalize_number(request.caller, region)
        facts = CallFacts(normalize_number(request.did, region), caller, directory.lookup(caller))
        try:
            keys = parse_keys(request.query.get("keys", ""))
        except ValueError:
            keys = []  # garbage from the dialplan: treat the caller as silent
        result = simulate(plan, at=now(), facts=facts, keys=keys, logged_in=logged_in, clock=clock)
        decision = result.decision
        destination = decision.destination
        if isinstance(destination, QueueDestination):
            target, skills = f"queue:{destination.queue}", destination.skills
        elif isinstance(destination, TransferDestination):
            target, skills = f"transfer:{plan.external[destination.target].dial}", ()
        else:
            target, skills = f"voicemail:{destination.box}", ()
        return RouteVariables(
            category=decision.request.category,
            queue=decision.deciding_queue or FRONT_DESK,
            skills=skills,
            destination=target,
            language=result.language,
        )

    return decide
